"""The supervisors' search syntax, parsed into an FTS5 expression and highlight patterns.

    退款                 a word or a string of Chinese characters (matched inside longer words)
    "how can i help"     a phrase: these words in this order
    退款 投诉            both (AND is implied; `AND` may be written)
    退款 OR 退费         either
    销户 NOT 已解决      the first without the second; `-已解决` is the same
    (退款 OR 退费) 投诉  parentheses group
    cancel*              words that start with `cancel`
    ~首发                what sounds like 首发 as well (手发, 首花): two or more Chinese
                         characters, matched on toneless pinyin (core/sounds.py)
    星河九号             a name of the catalogue of names (keywords.catalogue), canonical or an
                         alias: the name, what sounds like it and its aliases (`with_names`)

Operators are written in capitals; NOT binds tighter than AND, AND tighter than OR. Full-width
ASCII as a Chinese input method types it counts as ASCII (ＯＲ is OR, （ ） group), and
zero-width characters pasted in with a word are dropped. Queries are folded like the index
(Traditional -> Simplified, full-width -> half-width, lower case), so 退費 finds 退费. A query
has at most MAX_QUERY_CHARS characters and MAX_TERMS words or phrases, with parentheses at most
MAX_DEPTH deep: SQLite's FTS5 parser has a fixed stack, and a query past these limits gets a
QueryError, never an error from the index.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from callscope.core.errors import CallscopeError
from callscope.core.sounds import ALL_CONFUSIONS, SoundText, query_phrases, term_sound
from callscope.core.text import HAN, fold, is_han, run_tokens, runs

OPERATORS = {"AND", "OR", "NOT"}
MAX_QUERY_CHARS = 500
MAX_TERMS = 50
MAX_DEPTH = 8
SOUNDS = "~"  # the prefix of a sounds-like term, in searches and rule phrases
MARK = "_"  # starts the index's sound and filter tokens: no word typed or spoken does
_LEX = re.compile(r'\s*(?:(")|(\()|(\))|([^\s()"]+))')
_FULL_WIDTH_ASCII = re.compile("[\uff01-\uff5e]+")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


class QueryError(CallscopeError, ValueError):
    """A query that cannot be parsed; the message says what to change."""


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    sounds: bool = False  # ~term: what sounds like it too

    @property
    def prefix(self) -> bool:
        return self.text.endswith("*")


@dataclass(frozen=True)
class Not:
    keep: object
    drop: tuple


@dataclass(frozen=True)
class All:
    parts: tuple


@dataclass(frozen=True)
class Any:
    parts: tuple


@dataclass(frozen=True)
class _Span:
    begin: int
    finish: int

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.finish

    def span(self) -> tuple[int, int]:
        return self.begin, self.finish


class SoundsPattern:
    """Where a `~term` is heard in folded text: the pattern interface highlights use, over
    what was written (手发 for ~首发)."""

    def __init__(self, text: str, confusions: frozenset[str]):
        self.pattern = text
        self.confusions = confusions
        self.sound = term_sound(fold(text), confusions)

    def finditer(self, folded: str) -> list[_Span]:
        if self.sound is None:
            return []
        found = SoundText(folded, self.confusions).find(self.sound)
        return [_Span(match.start, match.end) for match in found]


@dataclass
class ParsedQuery:
    text: str
    fts: str  # an FTS5 MATCH expression over the index's words and marked sounds
    highlights: list = field(default_factory=list)  # re.Pattern or SoundsPattern
    tree: object = None  # Term, All, Any or Not: for engines that take a query as objects


def parse(query: str, confusions: frozenset[str] = ALL_CONFUSIONS) -> ParsedQuery:
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long (at most {MAX_QUERY_CHARS} characters)")
    tokens = _lex(_normalized(query))
    if not tokens:
        raise QueryError("the query is empty; type a word, e.g. 退款")
    parser = _Parser(tokens)
    tree = parser.expression()
    if parser.peek() is not None:
        raise QueryError(f"unexpected {parser.peek()[1]!r} in {query!r}: a ')' without '('?")
    highlights = [
        SoundsPattern(t.text, confusions) if t.sounds else term_pattern(t.text)
        for t in _positive_terms(tree)
    ]
    return ParsedQuery(query, _render(tree, confusions), highlights, tree)


def with_names(query: str, names: dict[str, list[str]]) -> str:
    """The query with each word or phrase that is a name of the catalogue of names (`names`:
    folded spelling -> the canonical spelling and its aliases) searched as the name: 星河九号
    becomes `(~星河九号 OR 星河9号)`, so what was heard in other characters (星和九号) and
    written as an alias is found too. The query as it was where it has no name, or where the
    names would make it too long to search."""
    if not names:
        return query
    out, changed = [], False
    for kind, value in _lex(_normalized(query)):
        negative = kind == "word" and value.startswith("-") and len(value) > 1
        bare = value[1:] if negative else value
        spellings = names.get(fold(bare.removeprefix(SOUNDS)).strip()) if kind != "(" else None
        if spellings and kind in ("word", "phrase") and bare not in OPERATORS:
            either = " OR ".join(_spelled(spelling) for spelling in spellings)
            out.append(("NOT " if negative else "") + f"({either})")
            changed = True
        else:
            out.append(f'"{value}"' if kind == "phrase" else value)
    if not changed:
        return query
    named = " ".join(out)
    try:
        parse(named)
    except QueryError:
        return query
    return named


def _spelled(spelling: str) -> str:
    if is_sounds_term(spelling):
        return SOUNDS + spelling
    return f'"{spelling}"' if " " in spelling.strip() else spelling


def _normalized(query: str) -> str:
    """Full-width ASCII read as ASCII (NFKC: ＯＲ, ＡＮＤ, ＮＯＴ, （ ）, ＂), zero-width spaces
    and joiners removed: what a Chinese input method or a paste leaves in a query."""
    query = query.translate(_ZERO_WIDTH)
    return _FULL_WIDTH_ASCII.sub(lambda run: unicodedata.normalize("NFKC", run.group()), query)


def _lex(query: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    query = query.strip()
    while pos < len(query):
        match = _LEX.match(query, pos)
        if match is None:
            break
        if match.group(1):
            end = query.find('"', match.end())
            if end < 0:
                raise QueryError(f'a quote is not closed in {query!r}: add the closing "')
            out.append(("phrase", query[match.end() : end]))
            pos = end + 1
            continue
        kind = "(" if match.group(2) else ")" if match.group(3) else "word"
        out.append((kind, match.group(match.lastindex)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.pos += 1
        return token

    def expression(self):
        parts = [self.conjunction()]
        while self._is_op("OR"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Any(tuple(parts))

    def conjunction(self):
        keep, drop = [], []
        while (token := self.peek()) is not None and token[0] != ")" and not self._is_op("OR"):
            if self._is_op("AND"):
                self.take()
                self._word_after_and(first=not (keep or drop))
                continue
            negative = self._is_op("NOT")
            if negative:
                self.take()
            elif token[0] == "word" and token[1].startswith("-") and len(token[1]) > 1:
                negative = True
                self.tokens[self.pos] = ("word", token[1][1:])
            item = self.primary()
            (drop if negative else keep).append(item)
        if not keep:
            if drop:
                raise QueryError("NOT needs something to keep: write e.g. 销户 NOT 已解决")
            raise QueryError("an operator has nothing on one side: check AND / OR / ( )")
        core = keep[0] if len(keep) == 1 else All(tuple(keep))
        return Not(core, tuple(drop)) if drop else core

    def _word_after_and(self, first: bool) -> None:
        """AND joins two things: one before it and a word, phrase, NOT or ( after it."""
        after = self.peek()
        if first or after is None or after[0] == ")" or self._is_op("AND") or self._is_op("OR"):
            raise QueryError("AND needs a word on each side: write e.g. 预约 AND 退款")

    def primary(self):
        token = self.take()
        if token is None:
            raise QueryError("the query ends with an operator: add a word after it")
        kind, value = token
        if kind == "(":
            return self.group()
        if kind == ")":
            raise QueryError("a ')' has nothing before it")
        if kind == "word" and value in OPERATORS:
            raise QueryError(f"{value} needs a word on each side")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(
                f"the query has more than {MAX_TERMS} words or phrases: search for fewer "
                "at a time (e.g. split a long OR or NOT list into two searches)"
            )
        if kind == "word" and value.startswith(SOUNDS) and len(value) > 1:
            return _sounds_term(value[1:])
        return _term(value, phrase=kind == "phrase")

    def group(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"parentheses are nested more than {MAX_DEPTH} deep: flatten them")
        inner = self.expression()
        if self.take() != (")", ")"):
            raise QueryError("a '(' is not closed: add ')'")
        self.depth -= 1
        return inner

    def _is_op(self, name: str) -> bool:
        token = self.peek()
        return token is not None and token == ("word", name)


def _term(text: str, phrase: bool) -> Term:
    term = Term(text, phrase)
    folded = runs(fold(text.rstrip("*")))
    if not folded:
        raise QueryError(f"{text!r} has no letters, digits or Chinese characters to search for")
    for i, run in enumerate(folded):
        if is_han(run[0]) and len(run) == 1 and (i < len(folded) - 1 or len(folded) == 1):
            raise QueryError(
                f"{text!r}: single Chinese characters are not searchable on their own; "
                "use two or more (e.g. 退款, 销户)"
            )
    if term.prefix and is_han(folded[-1][0]):
        raise QueryError(f"{text!r}: '*' works after Latin letters only (cancel*)")
    return term


def is_sounds_term(text: str) -> bool:
    """Whether `text` can be matched by sound: two or more Chinese characters, nothing else."""
    chars = [ch for ch in fold(text) if not ch.isspace()]
    return len(chars) >= 2 and all(is_han(ch) for ch in chars)


def _sounds_term(text: str) -> Term:
    if not is_sounds_term(text):
        raise QueryError(
            f"'~{text}': sounds-like search works on two or more Chinese characters (e.g. ~首发)"
        )
    return Term(text, sounds=True)


def _render(node, confusions: frozenset[str]) -> str:
    if isinstance(node, Term):
        return _render_sounds(node, confusions) if node.sounds else _render_term(node)
    if isinstance(node, All):
        return "(" + " AND ".join(_render(part, confusions) for part in node.parts) + ")"
    if isinstance(node, Any):
        return "(" + " OR ".join(_render(part, confusions) for part in node.parts) + ")"
    # FTS5's NOT is left-associative: a flat chain, not one nested group per dropped term
    parts = (node.keep, *node.drop)
    return "(" + " NOT ".join(_render(part, confusions) for part in parts) + ")"


def _render_sounds(term: Term, confusions: frozenset[str]) -> str:
    """The term as written, or any spelling of its sound (the index's marked sound tokens)."""
    spellings = query_phrases(fold(term.text), confusions) or []
    heard = ['"' + " ".join(MARK + token for token in tokens) + '"' for tokens in spellings]
    return "(" + " OR ".join([_render_term(term), *heard]) + ")"


def _render_term(term: Term) -> str:
    folded = runs(fold(term.text.rstrip("*")))
    tokens = [token for run in folded for token in run_tokens(run)]
    prefix = term.prefix or (is_han(folded[-1][0]) and len(folded[-1]) == 1)
    return '"' + " ".join(tokens) + '"' + (" *" if prefix else "")


def _positive_terms(node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return _positive_terms(node.keep)
    return [term for part in node.parts for term in _positive_terms(part)]


_LETTER = rf"(?:(?![{HAN}])[^\W\d_])"


def term_pattern(text: str) -> re.Pattern:
    """Where a search term or rule phrase occurs in folded text (same offsets as the original
    text): Chinese characters with any spaces between them, Latin words whole, `word*` a prefix."""
    term = Term(text)
    parts = []
    for run in runs(fold(term.text.rstrip("*"))):
        if is_han(run[0]):
            parts.append(r"\s*".join(re.escape(ch) for ch in run))
        else:
            before = rf"(?<!{_LETTER})" if not run[0].isdigit() else r"(?<!\d)"
            after = (
                "" if term.prefix else (rf"(?!{_LETTER})" if not run[-1].isdigit() else r"(?!\d)")
            )
            tail = rf"{_LETTER}*" if term.prefix and not run[-1].isdigit() else ""
            parts.append(before + re.escape(run) + tail + after)
    return re.compile(r"[\W_]*".join(parts))


def highlight_spans(text: str, patterns: list[re.Pattern]) -> list[tuple[int, int]]:
    """Merged (start, end) character spans of every match in `text`."""
    folded = fold(text)
    spans = sorted(m.span() for p in patterns for m in p.finditer(folded) if m.end() > m.start())
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]
