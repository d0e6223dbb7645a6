"""Markdown pieces the generated reference pages share."""

from __future__ import annotations

import re

_CODE_SPAN = re.compile(r"(`[^`]+`)")
_MARKS = re.compile(r"([\\*_\[\]|])")


def text(value: str) -> str:
    """Plain text as Markdown: HTML and Markdown's marks escaped, `code spans` kept."""
    return "".join(
        part if _CODE_SPAN.fullmatch(part) else _escape(part) for part in _CODE_SPAN.split(value)
    )


def _escape(part: str) -> str:
    part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKS.sub(r"\\\1", part)


def paragraphs(value: str) -> str:
    """A docstring or help text as Markdown paragraphs: wrapped lines joined, blank lines kept."""
    blocks = re.split(r"\n\s*\n", value.strip())
    return "\n\n".join(text(" ".join(block.split())) for block in blocks if block.strip())


def one_line(value: str) -> str:
    """Text for a table cell: one line."""
    return text(" ".join(value.split()))


def code(value: str) -> str:
    """`value` as a code span, whatever backticks it holds."""
    if "`" not in value:
        return f"`{value}`"
    return f"`` {value} ``"


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
