"""MkDocs hook: the reference pages, generated from the code each time the site is built
(never written to docs/): the settings, the command line and the tables."""

from __future__ import annotations

import reference_cli
import reference_config
import reference_tables
from mkdocs.structure.files import File, Files

GENERATED = {
    "reference/configuration.md": reference_config.page,
    "reference/cli.md": reference_cli.page,
    "reference/tables.md": reference_tables.page,
}


def on_files(files: Files, config) -> Files:
    for path, page in GENERATED.items():
        files.append(File.generated(config, path, content=page()))
    return files
