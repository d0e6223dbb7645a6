"""The table reference (reference/tables.md), generated from the pyarrow schemas of
`callscope.storage.schemas`: every table with its columns, types and meaning.

A column's meaning is its field metadata's `description` where the schema sets one, else the
comment written beside the field in `storage/schemas.py` (read with the tokenizer)."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_column_notes import NOTES
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
    """What storage/schemas.py says in comments: per top-level definition (CALLS, PII_SPAN...),
    the lines above it and each field's comment, and comment lines that head a group of
    fields."""

    above: dict[str, str] = field(default_factory=dict)
    fields: dict[tuple[str, str], str] = field(default_factory=dict)
    groups: dict[tuple[str, str], str] = field(default_factory=dict)
    defined: set[tuple[str, str]] = field(default_factory=set)
    sources: dict[str, list[str]] = field(default_factory=dict)


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
        notes.sources[name] = _names_used(node)
        for field_name, line in _field_lines(node):
            notes.defined.add((name, field_name))
            described = comments.get(line, "") if line not in comment_only else ""
            follow = line + 1
            while (
                described and described.count("(") > described.count(")") and follow in comment_only
            ):
                described += " " + comments[follow]
                follow += 1
            if described:
                notes.fields[(name, field_name)] = described
            heading = line - 1
            if heading in comment_only and not _continues(comments, comment_only, heading):
                notes.groups[(name, field_name)] = comments[heading]
    return notes


def _names_used(node: ast.AST) -> list[str]:
    """The other definitions (CALLS, ...) a definition takes fields from, in order."""
    used = [item.id for item in ast.walk(node) if isinstance(item, ast.Name) and item.id.isupper()]
    return list(dict.fromkeys(used))


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
    schemas = _schemas_module()
    notes = notes or read_notes(_source())
    schema = schemas.TABLES[table_name]
    owner = _definition_of(schemas, schema)
    found: list[Column] = []
    for item in schema:
        found += _column(item, item.name, _owners(schemas, owner, item, notes), notes)
    return found


def _owners(schemas: Any, owner: str, item: Any, notes: Notes) -> list[str]:
    """Definitions whose words describe a field: the table's own; for a field it takes from
    the tables its definition names (the hand-off's from CALLS, CALL_ISSUES, INCIDENTS), theirs."""
    if (owner, item.name) in notes.defined:
        return [owner]
    return [owner] + [
        source for source in notes.sources.get(owner, []) if (source, item.name) in notes.defined
    ]


def _column(item: Any, name: str, owners: list[str], notes: Notes) -> list[Column]:
    """The column `name` (dotted below its table's column: pii[].kind) and, for a struct or a
    list of structs, its fields; `owners`: the definitions whose words describe it."""
    import pyarrow as pa

    key = name.replace("[]", "")
    metadata = item.metadata or {}
    meaning = metadata.get(b"description", b"").decode("utf-8")
    for words in (notes.fields, NOTES):
        for owner in owners:
            meaning = meaning or words.get((owner, key), "")
    group = notes.groups.get((owners[0], key), "")
    found = [Column(name, _type_name(item.type), item.nullable, meaning, group)]
    inner = item.type.value_type if pa.types.is_list(item.type) else item.type
    if pa.types.is_struct(inner):
        suffix = "[]." if pa.types.is_list(item.type) else "."
        named = _definition_of_struct(inner)
        for child in inner:
            if named:  # a struct defined once (PII_SPAN) and described there
                found += _named_child(child, f"{name}{suffix}", named, notes)
            else:
                found += _column(child, f"{name}{suffix}{child.name}", owners, notes)
    return found


def _named_child(child: Any, prefix: str, definition: str, notes: Notes) -> list[Column]:
    column = _column(child, child.name, [definition], notes)
    return [
        Column(prefix + part.name, part.type, part.nullable, part.meaning, "") for part in column
    ]


def _definition_of(schemas: Any, schema: Any) -> str:
    for name, value in vars(schemas).items():
        if name.isupper() and value is schema:
            return name
    return ""


def _definition_of_struct(struct: Any) -> str:
    for name, value in vars(_schemas_module()).items():
        if name.isupper() and getattr(value, "equals", None) and _same_type(value, struct):
            return name
    return ""


def _same_type(value: Any, struct: Any) -> bool:
    import pyarrow as pa

    return isinstance(value, pa.DataType) and value.equals(struct)


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
