"""The documentation: the generated references name every setting, command and table column
(a new one cannot go undocumented), and the README stays a short front page whose links into
the site exist. `make test` builds the whole site with warnings as errors before pytest."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

REPO = Path(__file__).resolve().parent.parent
HOOKS = REPO / "docs" / "hooks"
README = REPO / "README.md"


@pytest.fixture(scope="module")
def hooks():
    """The generators of the reference pages, imported as the MkDocs hook imports them."""
    sys.path.insert(0, str(HOOKS))
    try:
        yield {
            name: importlib.import_module(f"reference_{name}")
            for name in ("config", "cli", "tables", "column_notes")
        }
    finally:
        sys.path.remove(str(HOOKS))


def _setting_keys(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    keys = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys += _setting_keys(kind, (*path, name))
        else:
            keys.append((*path, name))
    return keys


def test_the_settings_reference_names_every_key_and_its_environment_variable(hooks):
    from callscope.core.config import Settings

    page = hooks["config"].page()
    keys = _setting_keys(Settings)
    assert {"flow.max_failed_share", "logging.format", "metrics.textfile"} <= {
        ".".join(key) for key in keys
    }
    rows = {line.split(" | ")[0] for line in page.splitlines() if line.startswith("| `")}
    for key in keys:
        name = ".".join(key)
        env = "CALLSCOPE_" + "__".join(part.upper() for part in key)
        assert f"| `{name}`<br><small>`{env}`</small>" in rows, f"{name} is not in the reference"


def test_the_settings_reference_shows_defaults_bounds_and_descriptions(hooks):
    page = hooks["config"].page()
    row = next(line for line in page.splitlines() if line.startswith("| `flow.part_calls`"))
    assert "| `200` |" in row
    assert "≥ 1, ≤ 100000" in row
    assert "calls per part when a night fans out over workers" in row
    # defaults the build machine would otherwise spell with its own folders
    assert "`~/.cache/callscope/models`" in page
    assert str(Path.home()) not in page


def _commands(command, words=()):
    """(words after `callscope`, command) for every visible command of the click tree."""
    found = [(words, command)]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            child = command.get_command(None, name)
            if not getattr(child, "hidden", False):
                found += _commands(child, (*words, name))
    return found


def test_the_command_reference_names_every_command_and_option(hooks):
    import typer.main

    from callscope.cli import app

    page = hooks["cli"].page()
    sections = re.split(r"\n(?=#{2,3} callscope)", page)
    by_heading = {section.split("\n", 1)[0].lstrip("# "): section for section in sections}
    commands = _commands(typer.main.get_command(app))
    assert ("doctor",) in {words for words, _ in commands}
    for words, command in commands:
        name = " ".join(("callscope", *words))
        assert name in by_heading, f"`{name}` is not in the command reference"
        for param in command.params:
            if getattr(param, "hidden", False) or "--help" in param.opts:
                continue
            shown = param.name.upper() if param.param_type_name == "argument" else param.opts[0]
            assert f"`{shown}" in by_heading[name], f"{name}: {shown} is not documented"


def test_the_table_reference_names_every_column(hooks):
    from callscope.storage.schemas import TABLES

    page = hooks["tables"].page()
    for table, schema in TABLES.items():
        section = page.split(f"\n## {table}\n", 1)[1].split("\n## ", 1)[0]
        for column in schema.names:
            assert f"| `{column}` |" in section, f"{table}.{column} is not in the reference"


def _has_column(kind, dotted: str) -> bool:
    """Whether a schema or struct type has the column `dotted` (queue_shares.queue)."""
    import pyarrow as pa

    for part in dotted.split("."):
        if isinstance(kind, pa.ListType):
            kind = kind.value_type
        if part not in [item.name for item in kind]:
            return False
        kind = kind.field(part).type
    return True


def test_every_column_note_is_for_a_column_that_exists(hooks):
    from callscope.storage import schemas

    stale = [
        f"{definition}.{column}"
        for definition, column in hooks["column_notes"].NOTES
        if not _has_column(getattr(schemas, definition), column)
    ]
    assert not stale, f"notes for columns that do not exist: {stale}"


def test_the_references_are_generated_not_committed():
    assert not (REPO / "docs" / "reference").exists()


def test_the_readme_is_a_short_front_page_whose_links_exist():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "make demo" in text and "make test" in text
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("docs/") and link.endswith(".md") for link in local)
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
