"""Topic and facet titles are made of dictionary words and catalogue / rule names only: never a
span that starts or ends inside a word, a mishearing or a fragment."""

from __future__ import annotations

import numpy as np
from callscope.core.sounds import ALL_CONFUSIONS
from callscope.incidents.cluster import ClusterSettings, Naming, distinctive_terms, is_word

LAUNCH = {
    "store": ["我在营业听预约新手机，结果一直提示失败", "营业听的人说预约新手机要等",
              "去营业听预约新手机结果不到", "营业听预约新手机没成功"],
    "phone": ["星和九号尊败提示不到", "星河九号至尊败一直提示不到货", "我买的星和九号尊败提示不到",
              "星河九号尊败提示没货"],
    "deposit": ["钱也没退结果订单预定订金", "预定订金交了结果订单取消", "订金没退，结果订单也没了",
                "我交了订金预定结果订单没了"],
    "billing": ["话费被多扣了", "话费多扣五十", "这个月话费多扣"],
    "english": ["my order failed to ship", "the order failed again", "order failed and no refund"],
}  # fmt: skip
SPELLINGS = frozenset({"预定", "订单", "不到", "结果", "一直没有"})
NAMING = Naming(ALL_CONFUSIONS, SPELLINGS)


def titles(naming: Naming = NAMING) -> dict[str, list[str]]:
    texts = [text for said in LAUNCH.values() for text in said]
    labels = np.array([k for k, said in enumerate(LAUNCH.values()) for _ in said])
    named = distinctive_terms(texts, labels, ClusterSettings(min_cluster_size=2, naming=naming))
    return {topic: named[k][0] for k, topic in enumerate(LAUNCH)}


def test_titles_are_words_or_names_never_spans_across_words_or_fragments():
    found = titles()
    every = [term for terms in found.values() for term in terms]
    assert every
    for term in every:
        assert is_word(term) or term in SPELLINGS or term == "星河九号", (term, found)
    for bad in ("预约新", "结果订单", "尊败", "不到", "结果", "一直", "营业听"):
        assert bad not in every, found
    assert "星河九号" in found["phone"]  # two words said as one name, misheard spellings merged
    assert "订金" in found["deposit"] and "预定" in found["deposit"]


def test_a_mishearing_is_named_by_the_word_that_sounds_the_same():
    store = titles()["store"]
    assert "营业厅" in store and "营业听" not in store
    exact = titles(Naming(frozenset(), SPELLINGS))["store"]  # no confusion needed: ting = ting
    assert "营业厅" in exact


def test_the_heard_spelling_is_kept_as_a_variant():
    texts = [text for said in LAUNCH.values() for text in said]
    labels = np.array([k for k, said in enumerate(LAUNCH.values()) for _ in said])
    named = distinctive_terms(texts, labels, ClusterSettings(min_cluster_size=2))
    terms, variants = named[0]
    assert variants.get("营业厅") == ["营业听"], (terms, variants)


def test_english_statements_get_english_words():
    english = titles()["english"]
    assert set(english) == {"order", "failed"}


def test_function_words_and_fragments_are_no_titles_even_as_rule_phrases():
    for term in ("不到", "结果", "一直", "就是", "这个", "然后", "我们", "已经", "可以", "没有"):
        assert not is_word(term), term
    for term in ("营业厅", "订金", "宽带", "星河", "失败", "order"):
        assert is_word(term), term
