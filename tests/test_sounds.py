"""Sounds-like keys of Mandarin (core/sounds.py): each confusion kind, the readings of polyphonic
characters, offsets into what was written, and the index tokens that serve a search."""

from __future__ import annotations

import pytest
from callscope.core.sounds import (
    CONFUSIONS,
    confusion_set,
    find_sounds_like,
    index_tokens,
    key,
    name_key,
    query_phrases,
    sounds_version,
)
from callscope.core.text import fold

ALL = frozenset(CONFUSIONS)
NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    ("confusion", "term", "heard"),
    [
        ("zh-z", "知道", "资道"),
        ("ch-c", "查询", "擦询"),
        ("sh-s", "签收", "签搜"),
        ("n-l", "男生", "蓝生"),
        ("ng-n", "星河", "心和"),
        ("f-h", "发货", "花货"),
        ("u-i", "预约", "一夜"),
    ],
)
def test_each_confusion_matches_only_when_it_is_enabled(confusion, term, heard):
    text = fold(f"我说{heard}了")
    [match] = find_sounds_like(term, text, frozenset({confusion}))
    assert text[match.start : match.end] == heard and not match.exact
    assert find_sounds_like(term, text, NONE) == []


def test_homophones_match_without_any_confusion_and_point_at_what_was_written():
    text = "你们那个手发活动我签收的时候，没认接。"
    [first] = find_sounds_like("首发", fold(text), NONE)
    assert text[first.start : first.end] == "手发" and first.tones_agree and first.shared_chars == 1
    [second] = find_sounds_like("没人接", fold(text), NONE)
    assert text[second.start : second.end] == "没认接" and not second.tones_agree


def test_spaces_between_characters_are_allowed_but_punctuation_ends_a_run():
    assert [m.start for m in find_sounds_like("首发", "首 发", NONE)] == [0]
    assert find_sounds_like("首发", "首，发", NONE) == []


def test_traditional_text_is_folded_before_it_is_read():
    text = fold("星河九號")
    [match] = find_sounds_like("心和九号", text, ALL)
    assert (match.start, match.end) == (0, 4)


def test_a_polyphonic_term_character_matches_either_reading():
    assert find_sounds_like("银行", "银航", NONE)  # 银行 is read yin hang
    assert find_sounds_like("银行", "银行", NONE)[0].exact  # and 行 alone xing


def test_terms_with_latin_letters_or_a_single_character_have_no_sound_phrases():
    assert query_phrases("iphone", ALL) is None
    assert query_phrases("发", ALL) is None
    assert query_phrases("首发", ALL) == [["sou0fa"]]


def test_index_tokens_are_neighbouring_syllable_pairs_that_a_term_phrase_finds():
    tokens = index_tokens(fold("我买的心和九号"), ALL).split()
    [phrase] = query_phrases("星河九号", ALL)
    joined = " ".join(tokens)
    assert " ".join(phrase) in joined


def test_keys_merge_retroflex_initials_and_nasal_finals():
    assert key("zhang", ALL) == key("zan", ALL) == "zan"
    assert key("hui", ALL) == key("fei", ALL)
    assert key("zhang", NONE) == "zhang"


def test_names_that_sound_the_same_share_one_key():
    assert name_key("星河九号", ALL) == name_key("心和九号", ALL) == name_key("新和九号", ALL)
    assert name_key("星河九号", ALL) != name_key("银河九号", ALL)


def test_unknown_confusions_are_refused_and_versions_follow_the_set():
    with pytest.raises(ValueError, match="unknown sounds-like confusions"):
        confusion_set(["zh-z", "r-l"])
    assert sounds_version(ALL) != sounds_version(frozenset({"zh-z"}))
