"""The table reference (reference/tables.md), generated from the pyarrow schemas of
`callscope.storage.schemas`: every table with its columns, types and meaning.

A column's meaning is the one `storage/schemas.py` gives it beside the table's schema
(`COLUMN_MEANINGS`); the comments written there (read with the tokenizer) introduce each table
(the lines above its definition) and head groups of its columns (a comment line among them)."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_markdown import code, one_line, table, text

INTRO = """\
# Table reference

Every table's columns, generated from the schemas (`storage/schemas.py`, the one place they
are defined) each time this site is built. How the tables are laid out, how to open them and
what each one is for: [Warehouse tables](../tables.md).
"""

HANDOFF_PREFIX = "handoff_"


@dataclass
class Notes:
    """What storage/schemas.py says in comments: per top-level definition (CALLS, ...), the
    lines above it, and the comment lines that head a group of its fields."""

    above: dict[str, str] = field(default_factory=dict)
    groups: dict[tuple[str, str], str] = field(default_factory=dict)


def _schemas_module() -> Any:
    from callscope.storage import schemas

    return schemas


def read_notes(source: str) -> Notes:
    comments, comment_only = _comments(source)
    notes = Notes()
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        above = []
        line = node.lineno - 1
        while line in comment_only:
            above.insert(0, comments[line])
            line -= 1
        if above:
            notes.above[name] = " ".join(above)
        for field_name, line in _field_lines(node):
            heading = line - 1
            if heading in comment_only and not _continues(comments, comment_only, heading):
                notes.groups[(name, field_name)] = comments[heading]
    return notes


def _continues(comments: dict[int, str], comment_only: set[int], line: int) -> bool:
    """Whether a comment-only line ends the comment of the code line above it."""
    above = line - 1
    if above not in comments or above in comment_only:
        return False
    return comments[above].count("(") > comments[above].count(")")


def _comments(source: str) -> tuple[dict[int, str], set[int]]:
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return comments, set(comments) - code_lines


def _field_lines(node: ast.AST) -> list[tuple[str, int]]:
    """(name, line of the name) of each pa.field("name", ...) inside a definition; a field
    inside another field's type is named below it (queue_shares.queue)."""
    found: list[tuple[str, int]] = []

    def visit(item: ast.AST, prefix: str) -> None:
        if _is_field(item):
            name = item.args[0]
            found.append((prefix + name.value, name.lineno))
            prefix = f"{prefix}{name.value}."
        for child in ast.iter_child_nodes(item):
            visit(child, prefix)

    visit(node, "")
    return sorted(found, key=lambda item: item[1])


def _is_field(item: ast.AST) -> bool:
    return (
        isinstance(item, ast.Call)
        and isinstance(item.func, ast.Attribute)
        and item.func.attr == "field"
        and isinstance(item.func.value, ast.Name)
        and item.func.value.id == "pa"
        and bool(item.args)
        and isinstance(item.args[0], ast.Constant)
        and isinstance(item.args[0].value, str)
    )


# columns -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str  # dotted below its table's column: pii[].kind
    type: str
    nullable: bool
    meaning: str
    group: str


def columns(table_name: str, notes: Notes | None = None) -> list[Column]:
    """The table's columns, and below a struct column (or a list of structs) its fields, each
    with its meaning from `COLUMN_MEANINGS` ("" where it has none)."""
    schemas = _schemas_module()
    notes = notes or read_notes(_source())
    schema = schemas.TABLES[table_name]
    owner = _definition_of(schemas, schema)
    meanings = schemas.COLUMN_MEANINGS.get(table_name, {})
    found: list[Column] = []
    for item in schema:
        group = notes.groups.get((owner, item.name), "")
        found += _column(item, item.name, meanings, group)
    return found


def _column(item: Any, name: str, meanings: dict[str, str], group: str = "") -> list[Column]:
    """The column `name` (dotted below its table's column: pii[].kind) and, for a struct or a
    list of structs, its fields; their meanings are keyed without the brackets (pii.kind)."""
    import pyarrow as pa

    meaning = meanings.get(name.replace("[]", ""), "")
    found = [Column(name, _type_name(item.type), item.nullable, meaning, group)]
    inner = item.type.value_type if pa.types.is_list(item.type) else item.type
    if pa.types.is_struct(inner):
        suffix = "[]." if pa.types.is_list(item.type) else "."
        for child in inner:
            found += _column(child, f"{name}{suffix}{child.name}", meanings)
    return found


def _definition_of(schemas: Any, schema: Any) -> str:
    for name, value in vars(schemas).items():
        if name.isupper() and value is schema:
            return name
    return ""


def _type_name(kind: Any) -> str:
    import pyarrow as pa

    if pa.types.is_list(kind):
        return f"list of {_type_name(kind.value_type)}"
    if pa.types.is_struct(kind):
        return "struct"
    if pa.types.is_timestamp(kind):
        return f"timestamp ({kind.unit}, {kind.tz or 'no zone'})"
    return str(kind)


# the page ------------------------------------------------------------------------------------
def _source() -> str:
    return Path(_schemas_module().__file__).read_text(encoding="utf-8")


def table_names() -> list[str]:
    return list(_schemas_module().TABLES)


def page() -> str:
    schemas = _schemas_module()
    notes = read_notes(_source())
    parts = [INTRO]
    for name in table_names():
        parts.append(_section(schemas, name, notes))
    return "\n\n".join(parts) + "\n"


def _section(schemas: Any, name: str, notes: Notes) -> str:
    lines = [f"## {name}"]
    about = notes.above.get(_definition_of(schemas, schemas.TABLES[name]), "")
    if about:
        lines.append(text(about[0].upper() + about[1:]) + ".")
    lines.append(_where(schemas, name))
    rows = []
    group = ""
    for column in columns(name, notes):
        if column.group and column.group != group and "." not in column.name:
            group = column.group
            rows.append((f"**{one_line(group)}**", "", "", ""))
        rows.append(
            (
                code(column.name),
                text(column.type),
                "" if column.nullable else "not null",
                one_line(column.meaning),
            )
        )
    lines.append(table(("column", "type", "null", "meaning"), rows))
    return "\n\n".join(lines)


def _where(schemas: Any, name: str) -> str:
    if name.startswith(HANDOFF_PREFIX):
        return "A file of the marketing hand-off bundle (`<handoff>/<YYYY-MM-DD>/`)."
    if name in schemas.PARTITIONED_TABLES:
        return f"Stored as `<warehouse>/{name}/date=YYYY-MM-DD/part-0.parquet`."
    return "Read and written per day through the warehouse."
