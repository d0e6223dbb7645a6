"""`callscope doctor`: checks a machine before its first night."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor() -> None:
        """Check this machine before its first night."""
        raise typer.Exit(1)
