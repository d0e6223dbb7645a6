"""Text folding and tokens shared by the search index, queries and the category rules.

`fold` maps every character to exactly one character (Traditional -> Simplified, full-width ->
half-width, lower case), so an offset in folded text is the same offset in the original text:
highlights and hit positions computed on folded text point straight into what was stored.

Chinese has no spaces, so the index holds overlapping character pairs (bigrams) of every run
of Han characters: any query of two or more characters is a phrase of pairs and matches inside
longer words (退款 in 申请退款单). Latin letters and digits form words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

TOKENIZER_VERSION = "bigram-1"

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{HAN}]")
# a run of Han characters (spaces between them ignored) or a Latin / digit word
_WORD = rf"(?:(?![{HAN}])[^\W\d_])+|\d+"  # letters and digits apart: iPhone15 -> iphone 15
_RUN = re.compile(rf"[{HAN}](?:\s*[{HAN}])*|{_WORD}")
_UNIT = re.compile(rf"[{HAN}]|{_WORD}")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for line in _t2s_dictionary().read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            target = parts[1].split(" ")[0]
            if len(parts[0]) == 1 and len(target) == 1:
                table[ord(parts[0])] = target
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII
        table[code] = chr(code - 0xFEE0)
    table[0x3000] = " "
    return table


def _t2s_dictionary() -> Path:
    import opencc

    return Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"


def fold(text: str) -> str:
    """Simplified, half-width, lower-case text of the same length as `text`."""
    folded = text.translate(_fold_table()).lower()
    if len(folded) != len(text):  # a few characters lower-case to two (İ): keep them as they are
        folded = "".join(
            ch.lower() if len(ch.lower()) == 1 else ch for ch in text.translate(_fold_table())
        )
    return folded


def is_han(char: str) -> bool:
    return bool(_HAN_CHAR.match(char))


def has_han(text: str) -> bool:
    return bool(_HAN_CHAR.search(text))


def runs(folded: str) -> list[str]:
    """Han runs (spaces removed) and Latin / digit words of folded text, in order."""
    return [_SPACE.sub("", match.group()) for match in _RUN.finditer(folded)]


def run_tokens(run: str) -> list[str]:
    """Index tokens of one run: a word, or the overlapping pairs of a Han run."""
    if not is_han(run[0]):
        return [run]
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_tokens(text: str) -> str:
    """The space-separated tokens the full-text index stores for `text`."""
    return folded_tokens(fold(text))


def folded_tokens(folded: str) -> str:
    """`index_tokens` of text already folded."""
    return " ".join(token for run in runs(folded) for token in run_tokens(run))


def units(folded: str) -> list[tuple[int, int]]:
    """(start, end) of each unit of folded text: a Han character or a Latin / digit word.
    Proximity in the category rules is counted in these units."""
    return [match.span() for match in _UNIT.finditer(folded)]
