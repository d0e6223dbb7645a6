"""Address forms the redactor finds in one text: letter buildings, numerals, places outside the
estate words, rural chains, and the pieces of an address said before the rest of it."""

from __future__ import annotations

import pytest
from callscope.privacy.redact import find_pii


def addresses(text: str) -> list[str]:
    return [text[s.start : s.end] for s in find_pii(text) if s.kind == "address"]


@pytest.mark.parametrize(
    "text, address",
    [
        # letter buildings and blocks
        (
            "寄到我单位吧，深圳市南山区科技园科兴科学园B栋4单元1203，前台签收",
            "科兴科学园B栋4单元1203",
        ),
        ("好的，科兴科学园B栋1203，收件人写您本人", "科兴科学园B栋1203"),
        ("宽带办在公司，武汉市洪山区珞喻路世界城广场A座17层1703。", "世界城广场A座17层1703"),
        ("好的，珞喻路世界城A座1703。", "珞喻路世界城A座1703"),
        ("A区18栋几楼？", "A区18栋"),
        ("东区三号楼二单元，您记一下", "东区三号楼二单元"),
        # house numbers in numerals, a numbered compound, a unit and its room said digit by digit
        ("是龙口东路一百二十三号华晖阁十一楼C座。", "龙口东路一百二十三号华晖阁十一楼C座"),
        ("二十一号院几号楼？", "二十一号院"),
        ("三单元五零二。", "三单元五零二"),
        ("鼓楼区湖南路十六号，嗯，三单元五零二。", "湖南路十六号，嗯，三单元五零二"),
        ("小寨西路一百号，长安大学家属院十二号楼。", "长安大学家属院十二号楼"),
        # places that are no estate word
        ("好的，桃园宿舍4号楼516。", "桃园宿舍4号楼516"),
        ("对，后面还有，凯旋门大厦二十八层。", "凯旋门大厦二十八层"),
        ("放碧桂园凤凰城二期菜鸟驿站就行", "碧桂园凤凰城二期菜鸟驿站"),
        ("就在富力城东门对面那栋。", "富力城东门对面那栋"),
        ("就在阳光100小区南门对面那栋，五楼左手。", "阳光100小区南门对面那栋，五楼左手"),
        ("企业天地三号楼里面一点信号都没有", "企业天地三号楼"),
        # rural chains: 屯 and 庄 villages, a village committee, a group, 的 after the town
        ("俺家是黑龙江省绥化市庆安县勤劳镇东兴屯，从镇上往北走", "庆安县勤劳镇东兴屯"),
        ("好的，依汶镇东王家庄，联系人", "依汶镇东王家庄"),
        ("好的，后李庄村三组是吧", "后李庄村三组"),
        ("呃，罗官村委会下罗官村，五组。", "罗官村委会下罗官村，五组"),
        ("好的，宾川县州城镇罗官村委会下罗官村五组。", "宾川县州城镇罗官村委会下罗官村五组"),
        ("俺是山东省临沂市沂南县依汶镇的，找王长贵", "山东省临沂市沂南县依汶镇"),
        # a piece said before the rest of the address in the same sentence
        (
            "武侯区桐梓林北路，那个蜀都花园二栋一单元1802。",
            "武侯区桐梓林北路，那个蜀都花园二栋一单元1802",
        ),
        ("是小寨西路，小寨西路一百号。", "小寨西路，小寨西路一百号"),
        (
            "上海那个闵行区莘庄镇莘建东路58弄12号402室。",
            "上海那个闵行区莘庄镇莘建东路58弄12号402室",
        ),
        (
            "我在济南市历下区，楼没门牌，就在阳光100小区南门对面那栋。",
            "济南市历下区，楼没门牌，就在阳光100小区南门对面那栋",
        ),
        # more of the same kinds: a door for a unit, a gate and a count of buildings, a room
        # number after a tower, house numbers said digit by digit, a dormitory, a 社 group
        ("朝阳区团结湖3号楼2门401", "团结湖3号楼2门401"),
        ("阳光小区北门进去第二栋", "阳光小区北门进去第二栋"),
        ("寄到青年公寓1203就行", "青年公寓1203"),
        ("光明大街幺零八号", "光明大街幺零八号"),
        ("西区3号宿舍楼302", "西区3号宿舍楼302"),
        ("好的，王家村3社", "王家村3社"),
        ("广州白云区太和镇谢家庄二队龙劲巷附近", "谢家庄二队"),
        # English: a room in a tower of a named building
        (
            "Got it, Room 2305, Tower B, Jing An Kerry Centre. Who",
            "Room 2305, Tower B, Jing An Kerry Centre",
        ),
    ],
)
def test_an_address_said_in_a_new_way_is_found(text, address):
    found = addresses(text)
    assert any(address in span for span in found), found
    assert all(span in text for span in found)


@pytest.mark.parametrize(
    "text",
    [
        "我在成都出差",
        "中山路那边在修路，我绕了一下",
        "我们去了天安门和西湖",
        "小米之家在万达广场三楼",
        "中国移动营业厅就在小区门口",
        "24号之前付款，订单号是2023112412345，价格是199元",
        "本周三号楼下集合",
        "第三单元的作业做完了吗",
        "我们村三组的人都来了",
        "乡村组织振兴",
        "人民医院三楼的窗口",
        "学校南门对面有家奶茶店",
        "他家买了两栋房子",
        "快递放菜鸟驿站就行",
        "我去杭州塘栖镇玩了",
        "我们在大理州旅游",
        "上海那个地方挺好",
        "他在北京，住在朝阳区那边",
        "王庄那边信号不好",
        "村委会那边说的",
        "我们小区东门对面那栋",
        "小区东门对面那栋",
        "阳光小区1000多户",
        "合作社三队",
        "三门峡",
        "一门心思",
    ],
)
def test_a_place_that_is_no_address_is_kept(text):
    assert addresses(text) == []
