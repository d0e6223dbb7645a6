"""The configuration reference (reference/configuration.md), generated from the settings
model `callscope.core.config.Settings`: every section and key with its type, default, bounds,
description and environment variable."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from reference_markdown import code, one_line, paragraphs, table, text

ENV_PREFIX = "CALLSCOPE_"
LONG_DEFAULT = 60  # characters: a longer default is shown below its section's table

INTRO = """\
# Configuration reference

Every setting, generated from the settings model (`core/config.py`) each time this site is
built. How the configuration is loaded, the shipped files and the secrets that come only from
the environment: [Configuration](../configuration.md).

A key is set in the YAML file (`--config FILE`, else `$CALLSCOPE_CONFIG`, else the shipped
`configs/default.yaml`) by its section and name:

```yaml
flow:
  part_calls: 200
```

or from the environment, which wins over the file: `CALLSCOPE_` and the key's path in
capitals, joined by `__` (`CALLSCOPE_FLOW__PART_CALLS=200`); lists and mappings are written
as JSON (`CALLSCOPE_ASR__LANGUAGES='["zh", "en"]'`). A value outside its type or bounds stops
the command with the key's name and the file (exit code 2). Where `configs/gpu.yaml` (the
production file for CUDA servers) sets another value, the description says so.
"""


@dataclass(frozen=True)
class Key:
    """One setting: its path below Settings and its pydantic field."""

    path: tuple[str, ...]
    field: FieldInfo

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def env(self) -> str:
        return ENV_PREFIX + "__".join(part.upper() for part in self.path)


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]
    model: type[BaseModel]
    keys: list[Key]

    @property
    def title(self) -> str:
        return ".".join(self.path) or "Top level"


def _settings_model() -> type[BaseModel]:
    from callscope.core.config import Settings

    return Settings


def _section_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def sections(model: type[BaseModel] | None = None, path: tuple[str, ...] = ()) -> list[Section]:
    """The model's own keys as one section, then each nested section, depth first."""
    model = model or _settings_model()
    keys = [
        Key((*path, name), field)
        for name, field in model.model_fields.items()
        if _section_model(field) is None
    ]
    found = [Section(path, model, keys)]
    for name, field in model.model_fields.items():
        nested = _section_model(field)
        if nested is not None:
            found += sections(nested, (*path, name))
    return found


def setting_names() -> list[str]:
    """Every key's dotted name (asr.vad.threshold), in the order of the page."""
    return [key.name for section in sections() for key in section.keys]


# types, bounds, defaults --------------------------------------------------------------------
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}


def type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(code(str(arg)) for arg in args)
    if origin in (typing.Union, types.UnionType):
        kinds = " or ".join(type_name(arg) for arg in args if arg is not type(None))
        return f"{kinds} or null" if type(None) in args else kinds
    if origin is list:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


_BOUNDS = (
    (annotated_types.Ge, "ge", "≥ {}"),
    (annotated_types.Gt, "gt", "> {}"),
    (annotated_types.Le, "le", "≤ {}"),
    (annotated_types.Lt, "lt", "< {}"),
    (annotated_types.MinLen, "min_length", "length ≥ {}"),
    (annotated_types.MaxLen, "max_length", "length ≤ {}"),
)


def bounds(field: FieldInfo) -> list[str]:
    found = []
    for item in field.metadata:
        for kind, attribute, form in _BOUNDS:
            if isinstance(item, kind):
                found.append(form.format(getattr(item, attribute)))
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            found.append("matches " + code(pattern))
    return found


def shown(value: Any) -> str:
    """A value as it would be written in the YAML file."""
    if isinstance(value, Path):
        return _shown_path(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
        return dumped.strip()
    return str(value)


def _shown_path(path: Path) -> str:
    """A default path as the reader would write it: the build machine's home folder and the
    installed package's configs folder are not the reader's."""
    from callscope.core.config import CONFIG_DIR

    if path.is_relative_to(CONFIG_DIR):
        return "configs/" + path.relative_to(CONFIG_DIR).as_posix()
    if path.is_relative_to(Path.home()):
        return "~/" + path.relative_to(Path.home()).as_posix()
    return path.as_posix()


def default_value(key: Key) -> str | None:
    if key.field.is_required():
        return None
    return shown(key.field.get_default(call_default_factory=True))


def _gpu_values() -> dict[str, Any]:
    """configs/gpu.yaml's values by dotted key."""
    from callscope.core.config import CONFIG_DIR

    data = yaml.safe_load((CONFIG_DIR / "gpu.yaml").read_text(encoding="utf-8")) or {}
    section_paths = {".".join(section.path) for section in sections()}
    flat: dict[str, Any] = {}

    def walk(mapping: dict[str, Any], prefix: str) -> None:
        for name, value in mapping.items():
            if f"{prefix}{name}" in section_paths and isinstance(value, dict):
                walk(value, f"{prefix}{name}.")
            else:
                flat[prefix + name] = value

    walk(data, "")
    return flat


# the page ------------------------------------------------------------------------------------
def page() -> str:
    gpu = _gpu_values()
    parts = [INTRO]
    for section in sections():
        parts.append(_section(section, gpu))
    return "\n\n".join(parts) + "\n"


def _section(section: Section, gpu: dict[str, Any]) -> str:
    depth = "##" if len(section.path) <= 1 else "###"
    lines = [f"{depth} {section.title}"]
    doc = section.model.__dict__.get("__doc__")
    if doc:
        lines.append(paragraphs(doc))
    rows, long_defaults = [], []
    for key in section.keys:
        default = default_value(key)
        if default is None:
            default_cell = "required"
        elif len(default) > LONG_DEFAULT:
            default_cell = "below"
            long_defaults.append((key, default))
        else:
            default_cell = code(default)
        rows.append((_key_cell(key), _type_cell(key), default_cell, _description(key, gpu)))
    if rows:
        lines.append(table(("key", "type", "default", "description"), rows))
    for key, _ in long_defaults:
        lines.append(_long_default(key))
    renamed = section.model.__dict__.get("RENAMED")
    if renamed:
        prefix = ".".join(section.path)
        pairs = ", ".join(
            f"{code(f'{prefix}.{old}')} → {code(f'{prefix}.{new}')}" for old, new in renamed.items()
        )
        lines.append(
            "Earlier names, still read in the file and the environment with a warning naming "
            f"the new one (the new name wins where both are given): {pairs}."
        )
    return "\n\n".join(lines)


def _long_default(key: Key) -> str:
    """A default too long for its cell, folded below the table."""
    value = key.field.get_default(call_default_factory=True)
    dumped = yaml.safe_dump(
        {key.path[-1]: value}, allow_unicode=True, default_flow_style=False, sort_keys=False
    )
    block = "\n".join(f"    {line}" for line in ["```yaml", *dumped.splitlines(), "```"])
    return f'??? note "Default of {key.name}"\n\n{block}'


def _same(written: Any, key: Key) -> bool:
    """Whether a value written in a shipped file is the key's default (a relative path names
    the file next to the config, as the shipped default does)."""
    default = key.field.get_default(call_default_factory=True)
    if isinstance(default, Path) and isinstance(written, str):
        return not Path(written).is_absolute() and Path(written).name == default.name
    return written == default


def _key_cell(key: Key) -> str:
    return f"{code(key.name)}<br><small>{code(key.env)}</small>"


def _type_cell(key: Key) -> str:
    kind = type_name(key.field.annotation)
    limits = bounds(key.field)
    return kind + ("; " + ", ".join(text(limit) for limit in limits) if limits else "")


def _description(key: Key, gpu: dict[str, Any]) -> str:
    described = one_line(key.field.description or "")
    if key.name in gpu and not _same(gpu[key.name], key):
        note = f"`configs/gpu.yaml`: {code(shown(gpu[key.name]))}"
        described = f"{described} ({note})" if described else note
    return described
