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
            for name in ("config", "cli", "tables")
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


def _column_paths(kind, prefix: str = "") -> list[str]:
    """Every column of a schema and, below a struct column (or a list of structs), its fields,
    dotted as storage/schemas.py names them for their meanings (queue_shares.queue)."""
    import pyarrow as pa

    paths = []
    for item in kind:
        path = prefix + item.name
        paths.append(path)
        inner = item.type.value_type if pa.types.is_list(item.type) else item.type
        if pa.types.is_struct(inner):
            paths += _column_paths(inner, path + ".")
    return paths


def test_every_column_has_a_meaning_and_every_meaning_a_column():
    """storage/schemas.py gives each column of each table (and each field of a struct column)
    its meaning beside the schema: a new column cannot go undocumented, and a meaning cannot
    outlive its column."""
    from callscope.storage.schemas import COLUMN_MEANINGS, TABLES

    assert set(COLUMN_MEANINGS) == set(TABLES)
    assert "pii.kind" in _column_paths(TABLES["segments"])  # struct fields are walked
    missing, stale = [], []
    for table, schema in TABLES.items():
        paths = _column_paths(schema)
        meanings = COLUMN_MEANINGS[table]
        missing += [f"{table}.{path}" for path in paths if not meanings.get(path, "").strip()]
        stale += [f"{table}.{name}" for name in meanings if name not in paths]
    assert not missing, f"columns without a meaning in storage/schemas.py: {missing}"
    assert not stale, f"meanings in storage/schemas.py for columns that do not exist: {stale}"


def test_the_table_reference_shows_each_columns_meaning(hooks):
    page = hooks["tables"].page()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert any(row.startswith("| `pii[].kind` |") for row in rows)
    cells = [[cell.strip() for cell in row.strip()[1:-1].split(" | ")] for row in rows]
    assert all(len(row) == 4 for row in cells)  # column, type, null, meaning
    empty = [row[0] for row in cells if not row[3]]
    assert not empty, f"columns shown without a meaning: {empty}"


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
