"""Rule categories: the YAML format, its validation and the compiled matchers.

A category matches a call when any of its rules matches. A rule's conditions must all hold
within its scope (`speaker`, `first_s` / `last_s`); inside each list one item is enough:

    any: [..]        at least one of these phrases
    all: [..]        every one of these phrases
    none: [..]       none of these phrases (the rule fails if one is said)
    near: [{terms: [[..], [..]], within: N}]   a phrase of each group within N units of
                     each other in one segment (a unit is a Chinese character or a word)
    regex: [..]      a regular expression over folded text (Simplified, lower case)
    min_count: N     at least N hits of any / all / near / regex in scope

A phrase written `~首发` also matches what sounds like it (手发, 首花): toneless pinyin with the
confusions of `keywords.sounds_like` merged (core/sounds.py); `sounds_like: true` on a category
does that for every any / all / near phrase of two or more Chinese characters in it. `none`
phrases always match as written.

Phrases match folded text (Traditional -> Simplified, lower case, spaces between Chinese
characters ignored); Latin words match whole words, `word*` matches words that start so.
The operators may sit on the category itself as its one rule.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from callscope.core.config import SoundsLikeSettings
from callscope.core.errors import CallscopeError
from callscope.core.sounds import SOUNDS_VERSION, TermSound, term_sound
from callscope.core.text import fold, has_han, runs
from callscope.keywords.query import SOUNDS, is_sounds_term, term_pattern
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

COMPLAINT_CLASSES = ("business", "service", "network")
_RULE_KEYS = {"any", "all", "none", "near", "regex", "speaker", "first_s", "last_s", "min_count"}


class RuleError(CallscopeError, ValueError):
    """The rule file is missing or invalid; the message names the file and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # 315 is a phrase


class Near(_Strict):
    terms: list[list[str]] = Field(min_length=2)
    within: int = Field(10, ge=0, description="units (Chinese characters or words) apart")

    @field_validator("terms")
    @classmethod
    def _groups(cls, value: list[list[str]]) -> list[list[str]]:
        if any(not group for group in value):
            raise ValueError("every near group needs at least one phrase")
        for group in value:
            _check_phrases(group)
        return value


class Rule(_Strict):
    any: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)
    near: list[Near] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    speaker: Literal["any", "agent", "customer"] = "any"
    first_s: float | None = Field(None, gt=0)
    last_s: float | None = Field(None, gt=0)
    min_count: int = Field(1, ge=1)

    @field_validator("any", "all")
    @classmethod
    def _phrases(cls, value: list[str]) -> list[str]:
        return _check_phrases(value)

    @field_validator("none")
    @classmethod
    def _exact_phrases(cls, value: list[str]) -> list[str]:
        if any(text.startswith(SOUNDS) for text in value):
            raise ValueError("none phrases match as written: take the '~' off")
        return _check_phrases(value)

    @field_validator("regex")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regex {pattern!r} does not compile: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _has_positive(self) -> Rule:
        if not (self.any or self.all or self.near or self.regex):
            raise ValueError("a rule needs any, all, near or regex (none alone matches nothing)")
        return self

    @cached_property
    def compiled_regex(self) -> list[re.Pattern]:
        return [re.compile(pattern) for pattern in self.regex]

    def describe(self, most: int = 6) -> str:
        """The rule in one line, its phrase lists cut to `most`: `customer: 预约 | 预售 | …
        within 12 of 失败 | 不成功 | …`."""
        parts = []
        if self.any:
            parts.append(_phrases(self.any, most))
        if self.all:
            parts.append("all of " + _phrases(self.all, most, " + "))
        for near in self.near:
            groups = [_phrases(group, most) for group in near.terms]
            parts.append(f" within {near.within} of ".join(groups))
        parts += [f"/{pattern}/" for pattern in self.regex]
        if self.none:
            parts.append("not " + _phrases(self.none, most))
        scope = "" if self.speaker == "any" else f"{self.speaker} says "
        count = f" ({self.min_count}x)" if self.min_count > 1 else ""
        return scope + ", and ".join(parts) + count


class Category(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = ""
    description: str = ""
    complaint_class: Literal["business", "service", "network"] | None = None
    sounds_like: bool = False
    aspect: bool = Field(
        False,
        description="says how a call went (a repeat contact, a threat to cancel), not what it "
        "is about: the hand-off counts it inside the stories it runs through instead of telling "
        "it as a story of its own",
    )
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        if isinstance(data, dict) and _RULE_KEYS & data.keys():
            if "rules" in data:
                raise ValueError("put the operators either under rules: or on the category")
            data = dict(data)
            data["rules"] = [{key: data.pop(key) for key in _RULE_KEYS & data.keys()}]
        return data

    def describe(self) -> str:
        """What the category matches, one rule a clause: the hand-off's "defined by"."""
        sound = " (or what sounds like it)" if self.sounds_like else ""
        return f"{self.name}{sound}: " + "; or ".join(rule.describe() for rule in self.rules)

    @model_validator(mode="after")
    def _sounds_like(self) -> Category:
        if self.sounds_like:
            for rule in self.rules:
                rule.any, rule.all = _by_sound(rule.any), _by_sound(rule.all)
                for near in rule.near:
                    near.terms = [_by_sound(group) for group in near.terms]
        return self


def _phrases(texts: list[str], most: int, sep: str = " | ") -> str:
    shown = _as_written(texts)
    more = f"{sep}… (+{len(shown) - most})" if len(shown) > most else ""
    return sep.join(shown[:most]) + more


class RuleSet(_Strict):
    version: int = 1
    complaint_classes: dict[str, str] = Field(default_factory=dict)
    categories: list[Category] = Field(default_factory=list)

    @property
    def aspects(self) -> frozenset[str]:
        """The categories that say how a call went rather than what it is about."""
        return frozenset(c.name for c in self.categories if c.aspect)

    _sounds: SoundsLikeSettings = PrivateAttr(default_factory=SoundsLikeSettings)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        names = [category.name for category in self.categories]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"category names used twice: {duplicates}")
        unknown = set(self.complaint_classes) - set(COMPLAINT_CLASSES)
        if unknown:
            raise ValueError(
                f"complaint_classes: unknown {sorted(unknown)}; use {COMPLAINT_CLASSES}"
            )
        return self

    @property
    def sounds(self) -> SoundsLikeSettings:
        return self._sounds

    def with_sounds(self, settings: SoundsLikeSettings) -> RuleSet:
        self._sounds = settings
        for name in ("version_hash", "category_versions", "phrases", "spellings", "by_first_sound"):
            self.__dict__.pop(name, None)
        return self

    def exact_only(self) -> RuleSet:
        """The same rules with every phrase matched as written (for comparisons)."""
        data = self.model_dump(mode="json")
        for category in data["categories"]:
            category["sounds_like"] = False
            for rule in category["rules"]:
                rule["any"], rule["all"] = _as_written(rule["any"]), _as_written(rule["all"])
                for near in rule["near"]:
                    near["terms"] = [_as_written(group) for group in near["terms"]]
        return RuleSet(**data).with_sounds(self._sounds)

    @cached_property
    def version_hash(self) -> str:
        """Names the rules' results: the rules, and the sounds-like settings when used."""
        dumped = self.model_dump(mode="json", exclude={"categories": {"__all__": {"aspect"}}})
        if any(phrase.sound for phrase in self.phrases.values()):
            dumped["sounds_like"] = self._sounds.model_dump(mode="json") | {"keys": SOUNDS_VERSION}
        blob = json.dumps(dumped, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @cached_property
    def category_versions(self) -> dict[str, str]:
        """Category name -> what names its results alone: the category, and the sounds-like
        settings when one of its phrases is heard by sound. A category added or edited gets
        a new version; the others keep theirs, so only its hits need redoing."""
        sounds = self._sounds.model_dump(mode="json") | {"keys": SOUNDS_VERSION}
        versions = {}
        for category in self.categories:
            dumped = category.model_dump(mode="json", exclude={"aspect"})
            if any(self.phrases[text].sound for text in _category_phrases(category)):
                dumped["sounds_like_settings"] = sounds
            blob = json.dumps(dumped, sort_keys=True, ensure_ascii=False)
            versions[category.name] = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return versions

    def only(self, names: set[str]) -> RuleSet:
        """These rules with only the categories named (the same compiled phrases' settings)."""
        kept = [category for category in self.categories if category.name in names]
        subset = RuleSet(
            version=self.version, complaint_classes=self.complaint_classes, categories=kept
        )
        return subset.with_sounds(self._sounds)

    @cached_property
    def spellings(self) -> frozenset[str]:
        """The Chinese phrases of the rules as written (the names topics prefer)."""
        written = (text.removeprefix(SOUNDS) for text in self.phrases)
        return frozenset(text for text in written if is_sounds_term(text))

    @cached_property
    def by_first_sound(self) -> dict[str, frozenset[str]]:
        """Index token of a sounds-like phrase's first two syllables -> those phrases."""
        found: dict[str, set[str]] = {}
        for text, phrase in self.phrases.items():
            if phrase.sound is not None:
                for pair in phrase.sound.pairs[0]:
                    found.setdefault(pair, set()).add(text)
        return {pair: frozenset(texts) for pair, texts in found.items()}

    @cached_property
    def phrases(self) -> dict[str, Phrase]:
        """Every phrase of every rule, compiled once."""
        found: dict[str, Phrase] = {}
        for category in self.categories:
            for text in _category_phrases(category):
                found.setdefault(text, Phrase(text, self._sounds))
        return found


def _category_phrases(category: Category) -> list[str]:
    texts: list[str] = []
    for rule in category.rules:
        texts += rule.any + rule.all + rule.none
        texts += [text for near in rule.near for group in near.terms for text in group]
    return texts


class Phrase:
    """A rule phrase: a cheap literal test on a whole call, then the exact pattern; a
    sounds-like phrase (`~首发`) also carries its sound."""

    def __init__(self, text: str, sounds: SoundsLikeSettings | None = None):
        self.text = text
        written = text.removeprefix(SOUNDS)
        folded = runs(fold(written.rstrip("*")))
        self.key = max(folded, key=len)
        self.pattern = term_pattern(written)
        self.sound: TermSound | None = None
        if text.startswith(SOUNDS) and sounds is not None:
            sound = term_sound(fold(written), sounds.confusion_set)
            if sound is not None and len(sound) >= sounds.min_syllables:
                self.sound = sound


def _check_phrases(value: list[str]) -> list[str]:
    for text in value:
        written = text.removeprefix(SOUNDS)
        if not runs(fold(written.rstrip("*"))):
            raise ValueError(f"phrase {text!r} has no letters, digits or Chinese characters")
        if written.endswith("*") and has_han(written):
            raise ValueError(f"phrase {text!r}: '*' works after Latin letters only")
        if text.startswith(SOUNDS) and not is_sounds_term(written):
            raise ValueError(
                f"phrase {text!r}: '~' (sounds like) works on two or more Chinese characters"
            )
    return value


def _by_sound(texts: list[str]) -> list[str]:
    """A sounds-like category's phrases: those of Chinese characters only take the '~'."""
    return [
        SOUNDS + text if not text.startswith(SOUNDS) and is_sounds_term(text) else text
        for text in texts
    ]


def _as_written(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(text.removeprefix(SOUNDS) for text in texts))


def load_rules(path: Path, sounds: SoundsLikeSettings | None = None) -> RuleSet:
    path = Path(path)
    if not path.is_file():
        raise RuleError(f"rule file {path} not found; set keywords.rules in the config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RuleError(f"rule file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleError(f"rule file {path} must hold a mapping with a categories: list")
    try:
        return RuleSet(**data).with_sounds(sounds or SoundsLikeSettings())
    except ValidationError as exc:
        lines = [f"  {_where(data, error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise RuleError(f"rule file {path} is invalid:\n" + "\n".join(lines)) from exc


def _where(data: dict, loc: tuple) -> str:
    """`categories[3] (billing_dispute).rules[0].regex` rather than bare indexes."""
    parts = []
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and loc[i - 1] == "categories":
            try:
                name = data["categories"][part].get("name", "?")
            except (KeyError, IndexError, AttributeError, TypeError):
                name = "?"
            parts[-1] += f"[{part}] ({name})"
        elif isinstance(part, int):
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts) or "(top level)"
