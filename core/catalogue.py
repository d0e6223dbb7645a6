"""The catalogue of names: what marketing and the product team launch (products, plans,
campaigns, shops, apps), each with its canonical spelling, the other spellings it is written
in (aliases), an optional English name and the days it is active (`from` / `until`, both
optional and inclusive).

    names:
      - name: 星河九号
        kind: product
        aliases: [星河9号]
        english: Galaxy Nine
        from: 2026-11-15

It is read again by each night (no restart): the names active on a call's day are added to
the recogniser's hotwords for that call (and so to its key: pipeline/steps.py), a spelling
heard that sounds like a name maps to the name (`Catalogue.canonical`), topic names prefer
the canonical spellings and a search for a name also finds its aliases and what sounds like
it. A missing or empty file is an empty catalogue: nothing changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from callscope.core.errors import ConfigError
from callscope.core.sounds import name_key, term_sound
from callscope.core.text import fold, has_han, is_han
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KINDS = ("product", "plan", "campaign", "shop", "app")
Kind = Literal["product", "plan", "campaign", "shop", "app"]


class CatalogueError(ConfigError):
    """The catalogue file is invalid; the message names the file, the line and the field."""


class CatalogueName(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)

    name: str = Field(min_length=1, description="the canonical spelling")
    kind: Kind = "product"
    aliases: list[str] = Field(default_factory=list, description="other spellings of it")
    english: str | None = Field(None, description="its English name")
    from_: dt.date | None = Field(None, alias="from", description="first day it is active")
    until: dt.date | None = Field(None, description="last day it is active")

    @field_validator("name", "english")
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        if any(not alias.strip() for alias in value):
            raise ValueError("an alias must not be blank")
        return list(dict.fromkeys(alias.strip() for alias in value))

    @model_validator(mode="after")
    def _dates(self) -> CatalogueName:
        if self.from_ and self.until and self.until < self.from_:
            raise ValueError(f"until ({self.until}) is before from ({self.from_})")
        self.aliases = [alias for alias in self.aliases if alias != self.name]
        return self

    def active(self, day: dt.date) -> bool:
        return (self.from_ is None or self.from_ <= day) and (
            self.until is None or day <= self.until
        )

    @property
    def spellings(self) -> list[str]:
        """The canonical spelling, then its aliases."""
        return [self.name, *self.aliases]

    def as_yaml(self) -> dict:
        """The entry as the file writes it (only what is set, `from` by its own name)."""
        data = self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
        return {
            "name": self.name,
            "kind": self.kind,
            **{k: v for k, v in data.items() if k != "name"},
        }


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[CatalogueName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        owner: dict[str, str] = {}
        for entry in self.names:
            for spelling in entry.spellings:
                folded = fold(spelling)
                if owner.get(folded, entry.name) != entry.name:
                    raise ValueError(
                        f"{spelling!r} is a spelling of both {owner[folded]!r} and {entry.name!r}"
                    )
                owner[folded] = entry.name
        names = [entry.name for entry in self.names]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"names listed twice: {twice}")
        return self

    def __bool__(self) -> bool:
        return bool(self.names)

    def active(self, day: dt.date) -> list[CatalogueName]:
        return [entry for entry in self.names if entry.active(day)]

    def hotwords(self, day: dt.date, languages: list[str]) -> dict[str, list[str]]:
        """Per language of `languages`: the names active on `day` the recogniser should
        prefer: Chinese names for zh, English names (and Latin-only names) for en."""
        found: dict[str, list[str]] = {}
        for entry in self.active(day):
            if has_han(entry.name):
                found.setdefault("zh", []).append(entry.name)
            elif entry.english is None:
                found.setdefault("en", []).append(entry.name)
            if entry.english:
                found.setdefault("en", []).append(entry.english)
        return {
            lang: list(dict.fromkeys(words)) for lang, words in found.items() if lang in languages
        }

    @cached_property
    def content_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json", by_alias=True), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def spellings(self) -> frozenset[str]:
        """The canonical names of two or more Chinese characters: the spellings topic names
        and sounds-like matching prefer."""
        return frozenset(entry.name for entry in self.names if _sounds_term(entry.name))

    def by_spelling(self) -> dict[str, CatalogueName]:
        """Folded spelling (canonical or alias) -> its entry."""
        return {fold(spelling): entry for entry in self.names for spelling in entry.spellings}

    def canonical(self, term: str, confusions: frozenset[str]) -> str | None:
        """The canonical name a spelling stands for: one of its spellings as written, or what
        sounds like one of them under `confusions` (星和九号 -> 星河九号); None for others."""
        folded = fold(term).strip()
        entry = self.by_spelling().get(folded)
        if entry is not None:
            return entry.name
        if not _sounds_term(folded):
            return None
        return self._by_sound(confusions).get(name_key(folded, confusions))

    def _by_sound(self, confusions: frozenset[str]) -> dict[str, str]:
        cache = self.__dict__.setdefault("_sound_keys", {})
        if confusions not in cache:
            keys: dict[str, str] = {}
            for entry in self.names:
                for spelling in entry.spellings:
                    if _sounds_term(spelling) and term_sound(fold(spelling), confusions):
                        keys.setdefault(name_key(fold(spelling), confusions), entry.name)
            cache[confusions] = keys
        return cache[confusions]


def _sounds_term(text: str) -> bool:
    chars = [ch for ch in fold(text) if not ch.isspace()]
    return len(chars) >= 2 and all(is_han(ch) for ch in chars)


EMPTY = Catalogue()


# the file ------------------------------------------------------------------------------------
def load_catalogue(path: Path | None) -> Catalogue:
    """The catalogue in `path`; an empty one where the setting is null or the file is
    missing or empty. Read again whenever the file changed (a cache by modification time)."""
    if path is None:
        return EMPTY
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return EMPTY
    except OSError as exc:
        raise CatalogueError(f"catalogue file {path} cannot be read: {exc}") from exc
    stamp = (str(path.absolute()), stat.st_mtime_ns, stat.st_size)
    if _CACHE.get("stamp") != stamp:
        _CACHE.update(stamp=stamp, catalogue=parse_catalogue(_read(path), path))
    return _CACHE["catalogue"]


_CACHE: dict = {}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"catalogue file {path} cannot be read: {exc}") from exc


def parse_catalogue(text: str, path: Path | str = "<catalogue>") -> Catalogue:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"catalogue file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return EMPTY
    if not isinstance(data, dict):
        raise CatalogueError(f"catalogue file {path} must hold a mapping with a names: list")
    try:
        return Catalogue(**data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where, line = _where(text, data, error["loc"])
            at = f"line {line}: " if line else ""
            lines.append(f"  {at}{where}: {error['msg']}")
        raise CatalogueError(f"catalogue file {path} is invalid:\n" + "\n".join(lines)) from exc


def _where(text: str, data: dict, loc: tuple) -> tuple[str, int | None]:
    """`names[2] (星河九号).from` and the file's line (1-based) of the deepest part found."""
    parts: list[str] = []
    value, node = data, _compose(text)
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(part, int) and parts:
            name = (
                value[part].get("name")
                if isinstance(value, list) and part < len(value) and isinstance(value[part], dict)
                else None
            )
            parts[-1] += f"[{part}]" + (f" ({name})" if name else "")
        else:
            parts.append(str(part))
        value = _child(value, part)
        node = _child_node(node, part)
        if node is not None:
            line = node.start_mark.line + 1
    return ".".join(parts) or "(top level)", line


def _compose(text: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _child(value, part):
    if isinstance(value, dict):
        return value.get(part)
    if isinstance(value, list) and isinstance(part, int) and part < len(value):
        return value[part]
    return None


def _child_node(node, part):
    if isinstance(node, yaml.MappingNode):
        for key, child in node.value:
            if key.value == str(part):
                return child
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def add_name(path: Path, entry: CatalogueName) -> tuple[Catalogue, bool]:
    """`entry` written into the catalogue file (created if missing), replacing an entry of the
    same name and keeping the others and the file's leading comments; written to a temporary
    file and renamed over the old one, so a night reading it sees the old or the new file.
    Returns the new catalogue and whether an entry was replaced."""
    path = Path(path)
    text = _read(path) if path.exists() else ""
    current = parse_catalogue(text, path)
    names = [old for old in current.names if old.name != entry.name]
    replaced = len(names) < len(current.names)
    try:
        catalogue = Catalogue(names=[*names, entry])
    except ValidationError as exc:
        raise CatalogueError(
            f"cannot add {entry.name!r} to {path}: {exc.errors()[0]['msg']}"
        ) from exc
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    body = yaml.safe_dump(
        {"names": [name.as_yaml() for name in catalogue.names]},
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=None,
    )
    _write_atomically(path, "\n".join(header) + ("\n" if header else "") + body)
    return catalogue, replaced


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
