"""Text folding, the search syntax and the category rule operators (pure, no models)."""

from __future__ import annotations

import pytest
from callscope.core.text import fold, index_tokens
from callscope.keywords.categorize import categorize_call, hit_time
from callscope.keywords.query import QueryError, highlight_spans, parse
from callscope.keywords.rules import RuleError, RuleSet, load_rules


def test_fold_keeps_offsets_and_maps_variants():
    text = "網上預約失敗ＡＢＣ，iPhone"
    folded = fold(text)
    assert folded == "网上预约失败abc,iphone"
    assert len(folded) == len(text)


def test_index_tokens_are_pairs_for_chinese_and_words_for_latin():
    assert index_tokens("我想退款 iPhone15") == "我想 想退 退款 iphone 15"
    assert index_tokens("好") == "好"  # a lone character stays searchable as itself


@pytest.mark.parametrize(
    ("query", "fts"),
    [
        ("退款", '"退款"'),
        ("退費", '"退费"'),  # Traditional finds Simplified
        ("预约失败", '"预约 约失 失败"'),
        ('"how can I help"', '"how can i help"'),
        ("退款 投诉", '("退款" AND "投诉")'),
        ("退款 OR 退费", '("退款" OR "退费")'),
        ("销户 NOT 已解决", '("销户" NOT "已解 解决")'),
        ("销户 -已解决", '("销户" NOT "已解 解决")'),
        ("cancel*", '"cancel" *'),
    ],
)
def test_query_syntax(query, fts):
    assert parse(query).fts == fts


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ('"退款', "quote is not closed"),
        ("(退款 OR 退费", "not closed"),
        ("退款)", "without"),
        ("NOT 退款", "NOT needs something to keep"),
        ("退款 OR", "nothing on one side"),
        ("退", "single Chinese characters"),
        ("退*", "single Chinese characters"),
        ("!!!", "no letters"),
    ],
)
def test_malformed_queries_say_what_to_change(query, message):
    with pytest.raises(QueryError, match=message):
        parse(query)


def test_highlights_point_into_the_original_text():
    text = "您好，我想申請退款，退款單號是多少？ Can I cancel it? cancelled"
    spans = highlight_spans(text, parse("退款单 OR cancel").highlights)
    assert [text[s:e] for s, e in spans] == ["退款單", "cancel"]
    spans = highlight_spans(text, parse("退款 cancel*").highlights)
    assert [text[s:e] for s, e in spans] == ["退款", "退款", "cancel", "cancelled"]


def seg(text, speaker="customer", start=0.0, end=4.0, idx=0, words=None):
    return {
        "idx": idx,
        "start_s": start,
        "end_s": end,
        "speaker": speaker,
        "text": text,
        "words": words,
    }


def rules(*categories) -> RuleSet:
    return RuleSet(categories=[{"name": f"c{i}", **c} for i, c in enumerate(categories)])


def tagged(rule: dict, segments: list[dict], duration: float | None = None) -> bool:
    return categorize_call(segments, rules(rule), duration).categories == ["c0"]


@pytest.mark.parametrize(
    ("rule", "yes", "no"),
    [
        ({"any": ["退款", "refund"]}, "我要退款", "我要查话费"),
        ({"any": ["refund"]}, "I want a Refund", "refunding is not the word"),
        ({"any": ["cancel*"]}, "I cancelled it", "uncancel"),
        ({"all": ["套餐", "取消"]}, "帮我取消这个套餐", "帮我取消这个业务"),
        ({"any": ["销户"], "none": ["不销户"]}, "我要销户", "我不销户了"),
        (
            {"near": [{"terms": [["预约"], ["失败"]], "within": 3}]},
            "预约又失败了",
            "预约成功了但是付款的时候失败",
        ),
        ({"regex": [r"投诉到\w{2,4}"]}, "我要投诉到工信部", "我要投诉"),
        ({"any": ["投诉"], "min_count": 2}, "投诉投诉", "我要投诉"),
    ],
)
def test_each_operator_matches_and_refuses(rule, yes, no):
    assert tagged(rule, [seg(yes)])
    assert not tagged(rule, [seg(no)])


def test_a_category_describes_its_rule_for_the_handoff():
    rules = RuleSet.model_validate(
        {
            "categories": [
                {
                    "name": "preorder_failure",
                    "sounds_like": True,
                    "rules": [
                        {
                            "speaker": "customer",
                            "near": [{"terms": [["预约", "首发"], ["失败"]], "within": 12}],
                        },
                        {"any": [f"词{i}" for i in range(9)], "none": ["不销户"], "min_count": 2},
                    ],
                }
            ]
        }
    )
    text = rules.categories[0].describe()
    assert text == (
        "preorder_failure (or what sounds like it): customer says 预约 | 首发 within 12 of 失败; "
        "or 词0 | 词1 | 词2 | 词3 | 词4 | 词5 | … (+3), and not 不销户 (2x)"
    )


def test_speaker_scope():
    rule = {"any": ["销户"], "speaker": "customer"}
    assert tagged(rule, [seg("我要销户", "customer")])
    assert not tagged(rule, [seg("您是要销户吗", "agent")])


def test_position_in_the_call():
    first = {"any": ["投诉"], "first_s": 30}
    last = {"any": ["投诉"], "last_s": 30}
    early = [seg("我要投诉", start=5, end=8), seg("好的", start=100, end=120, idx=1)]
    late = [seg("你好", start=5, end=8), seg("我要投诉", start=100, end=120, idx=1)]
    assert tagged(first, early) and not tagged(first, late)
    assert tagged(last, late, 120) and not tagged(last, early, 120)


def test_complaint_class_follows_the_most_hits():
    rule_set = rules(
        {"any": ["信号"], "complaint_class": "network"},
        {"any": ["扣费"], "complaint_class": "business"},
    )
    result = categorize_call([seg("信号差，信号一直不好，还乱扣费")], rule_set)
    assert result.categories == ["c0", "c1"] and result.complaint_class == "network"
    assert categorize_call([seg("你好")], rule_set).complaint_class == "none"


def test_hit_time_uses_word_times():
    words = [
        {"word": "我想", "start": 10.0, "end": 10.4},
        {"word": "申请", "start": 10.4, "end": 10.9},
        {"word": "退款", "start": 11.2, "end": 11.8},
    ]
    row = seg("我想申请退款", start=10.0, end=12.0, words=words)
    assert hit_time(row, 4) == pytest.approx(11.2)
    row["words"] = None  # no words: by position
    assert hit_time(row, 3) == pytest.approx(11.0)


def test_starter_rules_load_and_tag_a_launch_day_complaint():
    from callscope.core.config import load_config

    starter = load_rules(load_config(None).keywords.rules)
    result = categorize_call(
        [
            seg("您好，很高兴为您服务", "agent"),
            seg(
                "我在网上预约新手机一直预约失败，也查不到配送信息，再不解决我就投诉到工信部", idx=1
            ),
        ],
        starter,
    )
    assert {"preorder_failure", "delivery_lookup", "regulator_escalation"} <= set(result.categories)
    assert result.complaint_class == "business"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("说好的又会没给我减，月租还是按颜架收的，这不对的。", "billing_dispute"),
        ("营业员答应的优惠没给我见，月租还是按援价收的。", "billing_dispute"),
        ("我找了营业厅的热线，每次都说做习繁忙，排了衣上五堆也没运接。", "hotline_unreachable"),
        ("星和九号手发那天我预够了三次都没成功。", "preorder_failure"),
    ],
)
def test_starter_rules_tag_complaints_as_the_recogniser_wrote_them(text, category):
    from callscope.core.config import load_config

    settings = load_config(None).keywords
    starter = load_rules(settings.rules, settings.sounds_like)
    result = categorize_call([seg("您好，很高兴为您服务", "agent"), seg(text, idx=1)], starter)
    assert category in result.categories


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories: [{name: x, any: [a]}, {name: x, any: [b]}]", "used twice"),
        ("categories: [{name: x, none: [a]}]", "needs any, all, near or regex"),
        ("categories: [{name: x, regex: ['(']}]", r"categories\[0\] \(x\).*does not compile"),
        ("categories: [{name: x, any: [a], colour: red}]", "colour"),
        ("categories: [{name: Bad Name, any: [a]}]", "name"),
        ("categories: [[", "not valid YAML"),
        ("- just a list", "must hold a mapping"),
    ],
)
def test_malformed_rule_files_name_the_file_and_the_place(tmp_path, text, message):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError, match=message) as error:
        load_rules(path)
    assert str(path) in str(error.value)


def test_missing_rule_file(tmp_path):
    with pytest.raises(RuleError, match="not found"):
        load_rules(tmp_path / "nope.yaml")
