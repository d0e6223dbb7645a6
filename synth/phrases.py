"""What the synthetic callers and agents say: slot-filled Mandarin and English templates.

Written fresh for this project (no text is copied from any corpus). Customer wording is meant
to trigger the matching rule category of configs/categories.yaml most of the time without
repeating its phrases word for word. Mandarin lines hold no Latin letters or Arabic digits,
so the Mandarin text-to-speech reads every character; numbers are written in Chinese.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

HOURS = tuple(range(8, 22))
HOUR_WEIGHTS = (4, 8, 10, 9, 6, 6, 8, 9, 8, 7, 5, 5, 4, 3)

_DIGITS_ZH = "零一二三四五六七八九"
_DIGITS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MOBILE_PREFIXES = (
    "133 135 136 137 138 139 150 151 152 157 158 159 176 177 180 181 182 186 187 188 189 199"
).split()
_REGIONS = (
    "110105",
    "110108",
    "310115",
    "440106",
    "440305",
    "330106",
    "510107",
    "420106",
    "320102",
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


# --- numbers -------------------------------------------------------------------------------


def cardinal_zh(n: int) -> str:
    """1..9999 in Chinese words: 128 -> 一百二十八, 105 -> 一百零五, 12 -> 十二."""
    if not 0 < n < 10000:
        raise ValueError(f"{n} is out of range")
    parts, zero = [], False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            zero = bool(parts)
            continue
        if zero:
            parts.append("零")
            zero = False
        word = "两" if digit == 2 and unit in ("千", "百") else _DIGITS_ZH[digit]
        parts.append(word + unit)
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def spoken_digits(digits: str, language: str, rng: random.Random, groups: tuple[int, ...]) -> str:
    """Digits read one by one, in groups: 幺三八，幺二三四，五六七八 / one three eight, ..."""
    chunks, at = [], 0
    for size in groups:
        chunks.append(digits[at : at + size])
        at += size
    if at < len(digits):
        chunks.append(digits[at:])
    if language == "en":
        return ", ".join(" ".join(_DIGITS_EN[int(d)] for d in chunk) for chunk in chunks)
    table = dict(enumerate(_DIGITS_ZH))
    if rng.random() < 0.75:
        table[1] = "幺"
    return "，".join("".join(table[int(d)] for d in chunk) for chunk in chunks)


def phone_number(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))


def id_number(rng: random.Random) -> str:
    """A well-formed PRC resident ID (region, birth date, sequence, MOD 11-2 check digit)."""
    birth = _birth_date(rng)
    while True:
        body = rng.choice(_REGIONS) + birth + f"{rng.randrange(1000):03d}"
        check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
        if check != "X":  # read aloud, an X would be a letter in Mandarin text
            return body + check


def _birth_date(rng: random.Random) -> str:
    year = rng.randrange(1955, 2005)
    month = rng.randrange(1, 13)
    return f"{year}{month:02d}{rng.randrange(1, 29):02d}"


_CITIES = (
    ("北京市", "朝阳区"),
    ("北京市", "海淀区"),
    ("上海市", "浦东新区"),
    ("广州市", "天河区"),
    ("深圳市", "南山区"),
    ("杭州市", "西湖区"),
    ("成都市", "锦江区"),
    ("武汉市", "洪山区"),
    ("南京市", "鼓楼区"),
)
_ROADS = ("建设路", "人民路", "中山路", "解放路", "和平路", "幸福路", "长江路", "光明街", "文化路")
_ROADS_EN = ("Jianshe Road", "Renmin Road", "Zhongshan Road", "Jiefang Road", "Heping Road")


def address(rng: random.Random, language: str) -> tuple[str, str]:
    """A street address as said (Chinese numerals) and as written (Arabic numerals)."""
    city, district = rng.choice(_CITIES)
    house, block, unit = rng.randrange(1, 100), rng.randrange(1, 13), rng.randrange(1, 7)
    room = f"{rng.randrange(1, 19)}{rng.randrange(1, 5):02d}"
    if language == "en":
        text = f"Room {room}, Building {block}, {house} {rng.choice(_ROADS_EN)}"
        return text, text
    road = rng.choice(_ROADS)
    head = district if rng.random() < 0.6 else city + district
    said_room = "".join(_DIGITS_ZH[int(d)] for d in room)
    said = f"{head}{road}{cardinal_zh(house)}号{cardinal_zh(block)}栋{cardinal_zh(unit)}单元{said_room}室"
    written = f"{head}{road}{house}号{block}栋{unit}单元{room}室"
    return said, written


def _amount_zh(rng: random.Random) -> str:
    n = rng.choice(
        (18, 20, 28, 30, 36, 38, 45, 50, 58, 66, 80, 88, 99, 100, 120, 128, 150, 199, 260)
    )
    return cardinal_zh(n) + rng.choice(("块", "块钱", "元"))


def _amount_en(rng: random.Random) -> str:
    return f"{rng.choice((18, 20, 28, 30, 38, 50, 58, 88, 99, 100, 120, 150, 199))} yuan"


# --- slots ---------------------------------------------------------------------------------

SLOTS = {
    "zh": {
        "model": (
            "星河九号",
            "星河九号至尊版",
            "新出的星河折叠屏",
            "这次首发的新手机",
            "那款新旗舰",
            "新款星河手机",
            "星河九号标准版",
            "星河九号加强版",
            "新出的那款手机",
        ),
        "when": (
            "昨天晚上",
            "今天上午",
            "今天早上十点",
            "刚才",
            "前天",
            "开售的时候",
            "零点开抢的时候",
            "中午",
        ),
        "shop": ("网上商城", "官方商城", "掌上营业厅", "小程序", "官网", "你们的手机客户端"),
        "times": ("十几次", "好几次", "二十多次", "一上午", "三遍", "七八次", "一下午"),
        "days": ("两天", "三天", "好几天", "一个星期", "五天", "十来天", "四天"),
        "place": (
            "家里",
            "小区里",
            "单位",
            "地下车库",
            "办公室",
            "老家",
            "商场里",
            "地铁上",
            "电梯里",
        ),
        "district": ("朝阳区", "天河区", "南山区", "江北区", "高新区", "滨江区", "开发区", "城东"),
        "vas": ("彩铃", "视频会员", "游戏包", "来电提醒", "阅读包", "音乐会员", "云盘会员"),
        "plan": (
            "五十八元的套餐",
            "一百二十八元的套餐",
            "不限量套餐",
            "便宜一点的套餐",
            "二十九元的套餐",
            "家庭融合套餐",
            "大流量套餐",
        ),
        "country": (
            "日本",
            "泰国",
            "香港",
            "新加坡",
            "美国",
            "韩国",
            "欧洲",
            "澳大利亚",
            "马来西亚",
        ),
        "hotline": (
            "网店的热线",
            "商城的客服电话",
            "门店的热线",
            "专卖店的客服电话",
            "网上商城的人工客服",
            "营业厅的热线",
            "线上商城的热线",
        ),
        "channel": ("微信", "支付宝", "手机银行", "掌上营业厅", "便利店"),
        "deposit": ("一百块定金", "五百元定金", "全款", "两百块的定金"),
        "speed": ("三百兆", "五百兆", "一千兆", "两百兆"),
        "years": ("三", "五", "十", "七八", "十几", "二十"),
        "who": ("我爸", "我妈", "我爱人", "家里老人", "我孩子", "我同事"),
    },
    "en": {
        "model": (
            "Galaxy Nine",
            "Star Nine Pro",
            "new flagship phone",
            "new foldable",
            "Star Nine",
        ),
        "when": ("last night", "this morning", "at ten this morning", "just now", "yesterday"),
        "shop": ("online store", "official app", "website", "online shop"),
        "times": ("a dozen times", "several times", "all morning", "five times"),
        "days": ("two days", "three days", "a week", "five days", "four days"),
        "place": ("at home", "in my office", "in the car park", "on the subway", "at my building"),
        "district": ("Chaoyang", "Tianhe", "Nanshan", "Binjiang", "the east side"),
        "vas": ("video membership", "ringtone service", "game pack", "music subscription"),
        "plan": (
            "unlimited plan",
            "cheaper plan",
            "58 yuan plan",
            "family plan",
            "bigger data plan",
        ),
        "country": ("Japan", "Thailand", "Singapore", "the US", "Korea", "Europe", "Australia"),
        "hotline": ("shop hotline", "online store hotline", "store's customer service line"),
        "channel": ("WeChat", "Alipay", "my banking app", "the app"),
        "deposit": ("a 100 yuan deposit", "the full price", "a 500 yuan deposit"),
        "speed": ("300 megabits", "500 megabits", "1 gigabit"),
        "years": ("three", "five", "ten", "fifteen"),
        "who": ("my father", "my mother", "my wife", "my husband"),
    },
}


_CHOICE = re.compile(r"\(([^()]*)\)")


def render(template: str, fill: Slots) -> str:
    """`(甲|乙)` picks one alternative (`(乙)` alone: said or not), then slots are filled."""
    if "(" in template:
        template = _CHOICE.sub(lambda m: _pick(fill.rng, m.group(1)), template)
    return template.format_map(fill)


def _pick(rng: random.Random, group: str) -> str:
    options = group.split("|")
    return rng.choice(options if len(options) > 1 else [options[0], ""])


class Slots(dict):
    """Fills `{slot}` in templates with a random value, the same value all through one call."""

    def __init__(self, rng: random.Random, language: str):
        super().__init__()
        self.rng = rng
        self.language = language

    def __missing__(self, key: str) -> str:
        if key == "amount":
            value = _amount_en(self.rng) if self.language == "en" else _amount_zh(self.rng)
        else:
            value = self.rng.choice(SLOTS[self.language][key])
        self[key] = value
        return value


# --- lines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lines:
    language: str
    ivr: tuple[str, ...]
    greetings: tuple[str, ...]
    callback: tuple[str, ...]
    hellos: tuple[str, ...]
    openers: tuple[str, ...]
    contexts: tuple[str, ...]
    closers: tuple[str, ...]
    tails: tuple[str, ...]
    escalations: tuple[str, ...]
    repeats: tuple[str, ...]
    issues: dict[str, tuple[str, ...]]
    follow_ups: dict[str, tuple[str, ...]]
    probes: dict[str, tuple[tuple[str, tuple[str, ...]], ...]]
    resolutions: dict[str, tuple[str, ...]]
    thanks: tuple[str, ...]
    goodbyes: tuple[str, ...]
    ask_phone: tuple[str, ...]
    give_phone: tuple[str, ...]
    ask_phone_address: tuple[str, ...]
    give_phone_address: tuple[str, ...]
    ask_phone_id: tuple[str, ...]
    give_phone_id: tuple[str, ...]


ZH_ISSUES = {
    "preorder_failure": (
        "我{when}在{shop}预约{model}，(一直|老是|每次都)提示预约失败。",
        "{model}开抢的时候我(抢了|试了){times}，每次都显示抢购失败。",
        "我(交了|付了){deposit}预订{model}，结果订单被取消了，钱也没(退回来|退给我)。",
        "新手机预售的页面我点了{times}都点不动，最后(跳出来说|显示)下单失败。",
        "我在{shop}(买|抢)({model}|新手机)，付款成功了，可下单结果一直显示异常。",
        "你们那个首发活动我{when}预约的，(短信|页面)说成功了，再去查又说预约没有成功。",
        "{shop}我{when}一直登录不上，想预约也约不了，现在(名额都没了|都抢光了)。",
        "我想预购{model}，提交订单的时候(老是|一直)提示系统错误，预购不了。",
        "(秒杀|抢购)的时候我明明付了钱，订单却被取消了，这算(怎么回事|什么事)？",
        "我帮({who}|家里人)预约{model}，信息填了{times}，预约一直提交不上。",
        "{model}我定了闹钟(准点|{when})去抢的，一直在排队，最后告诉我抢购没成功。",
        "我{when}预订的{model}，预订记录(没了|找不到了)，钱(是扣了的|已经扣了)。",
        "我在{shop}预约新(机|手机)，验证码都输对了，还是提示预约出错。",
        "怎么回事啊，{model}我预约了(三次|{times})都没成功，页面就一直转圈。",
        "我{when}订购{model}付了{deposit}，今天一看显示订购失败，订单也取消了。",
        "我想问一下，我预约{model}是不是失败了？什么通知也没有，订单里也看不到。",
        "首发(那天|的时候)我在{shop}抢，抢了{times}一直提示异常，最后什么都没抢到。",
    ),
    "delivery_lookup": (
        "我{days}前在{shop}买的{model}，到现在物流信息(一直|还是)查不到。",
        "订单上(写着|显示)已经发货了，可是(单号|运单号)输进去什么都查不出来。",
        "我的(手机|新手机)订单{days}了还没发货，配送信息也看不到，到底什么时候发？",
        "(快递|物流)那边显示已经签收了，可我根本就没收到(东西|手机|包裹)。",
        "我买的({model}|手机)一直显示派送中，{days}了还没送到，能不能帮我查一下？",
        "下单的时候说(两天|三天|二十四小时)内发货，现在{days}过去了一点动静都没有。",
        "订单页面(一直|到现在还)显示暂无物流信息，我都不知道(手机|东西)现在在哪儿。",
        "我想问一下{model}什么时候到货，(订单里|{shop}上)查不到配送进度。",
        "我{when}付的款，说是今天送货，到现在快递员电话都没打过来。",
        "物流信息停在(一个地方|中转站){days}没动了，这是丢件了还是怎么了？",
        "我换了收货地址以后，订单就查不到了，东西到底寄到哪儿去了？",
    ),
    "hotline_unreachable": (
        "我打{hotline}打了{times}，(一直|始终|就是)没人接。",
        "转人工转了(半天|好久|{times})，一直在排队，最后也没转到人工。",
        "你们{hotline}一打就占线，是不是根本没人(上班|管)？",
        "我想问问(提货|订单)的事，{hotline}从(早上|昨天)打到现在都打不通。",
        "好不容易才打进来，{hotline}(一直|老是)提示无人接听。",
        "{hotline}我打了{times}都打不进去，只能打到这边来问了。",
        "我找了{hotline}，每次都说坐席繁忙，排了{times}队也没人接。",
        "你们那个{hotline}怎么老是打不通啊？我有急事要(问|办)。",
        "我打{hotline}，按了人工以后就一直没人接，最后自动挂断了。",
    ),
    "billing_dispute": (
        "我这个月的话费怎么多扣了{amount}？我(什么都没用啊|也没多打电话)。",
        "账单上有一笔{vas}的费用，我从来没订购过，凭什么扣我(钱|的钱)？",
        "你们未经我同意给我开了{vas}，每个月扣我{amount}，我要求退费。",
        "我平时就打打电话，这个月账单一下子(出来|多了){amount}，这是怎么回事？",
        "从{days}前开始每天都被扣一块钱，也不知道扣的是什么。",
        "(说好的|办的时候说的|营业员答应的)优惠没给我减，(月租|这个月的月租)还是按原价收的，这不对吧？",
        "我(查了一下|{when}看了)话费，莫名其妙多出来一项{vas}的费用。",
        "我的余额为什么一下子少了{amount}？我根本没打什么电话。",
        "你们乱扣费也要有个限度吧，{vas}我早就退掉了，还在扣。",
        "我(出国|出差)回来发现被扣了(一大笔费用|{amount}多)，这个收费(不合理|太不合理了)。",
        "(上个月|这个月)的账单不对，多收了我{amount}的流量费。",
    ),
    "plan_change": (
        "我想把现在的套餐换成{plan}，(流量老是不够用|现在这个不划算)。",
        "现在用的太贵了，我想把套餐降到{plan}(，下个月就改)。",
        "我想办理一个流量包，(每个月月底|每到月底)流量都不够(用)。",
        "(合约|我的合约)(到期了|下个月到期)，想改套餐，有没有合适的推荐？",
        "我(上个月|{when})升级套餐了，(这个月|账单上)怎么还是按原来的收？",
        "帮我把那个(视频|游戏|音乐)流量包取消了吧，我(用不上|根本不用)。",
        "有没有适合老人用的(，便宜点的)，我想给(我妈|我爸|家里老人)换一个套餐。",
        "我想开通一个家庭套餐，把{who}的号码也加进来。",
        "我想问一下，{plan}怎么办理？下个月能生效吗？",
        "我这个套餐能不能改成{plan}？现在的用不完。",
    ),
    "broadband_fault": (
        "我家宽带从{when}开始就断断续续的，(看个视频|刷个手机)都卡。",
        "家里的网又连不上了，光猫上有个灯一直(闪红灯|是红的|在闪)。",
        "我要报修，(宽带|家里的宽带){days}没法用了，师傅一直没来。",
        "光纤是(上周|上个月|前几天)才装的，每天(晚上|下午)都掉线好几次。",
        "家里宽带网速特别慢，办的是{speed}，测出来只有(十几兆|几兆)。",
        "我们{district}那边是不是在施工？从早上开始就断网了。",
        "我搬家了想把宽带迁过去，约了{days}了还没人来装。",
        "路由器(重启了好多遍|拔了插了好几次)，家里的网(还是上不了|{days}了还是上不了)。",
        "宽带一到晚上就特别卡，(打游戏|看电视|开视频会议)根本没法(玩|用)。",
        "我家宽带{when}突然没网了，孩子还要上网课呢。",
    ),
    "signal_data": (
        "我在{place}手机一点信号都没有，电话(也打不出去|都打不了)。",
        "最近(手机|在{place})上网特别慢，(刷个网页|打开个视频|发个图片)都要转半天。",
        "我们{district}这边信号很差，打电话老是(断|掉线)。",
        "(手机|我的手机)(老是|隔一会儿就)显示无服务，重启了也没用。",
        "一到(晚上|下班以后|周末)网速就慢得不行，(流量根本用不了|在{place}更明显)。",
        "(在{place})打电话的时候对方老(听不清|说我声音断断续续的)，通话质量太差了。",
        "我在{place}信号时有时无，微信消息都发不出去。",
        "这(几天|{days})手机网络特别不稳定，(在{place})一会儿有一会儿没有。",
        "我(家里|{place})信号特别弱，只有一格，接个电话还得跑到(阳台上|外面)去。",
    ),
    "balance_recharge": (
        "我{when}在{channel}充了{amount}话费，到现在都没到账。",
        "我想查一下(我|{who})(现在|这个号码)还有多少余额(，顺便查下流量)。",
        "我交了{amount}，怎么还是欠费，手机还停着机。",
        "帮我查一下(这个月|这个号码)还剩多少话费，我怕(又停机了|影响{who}打电话)。",
        "用{channel}充值的时候钱扣了，话费没有加上去。",
        "我给{who}的号码充了{amount}，(他说|可)手机还是打不了电话。",
        "我想问一下(话费余额|还剩多少话费)和剩下的流量，(短信查不了|客户端上看不到|{shop}上看不到)。",
        "(充值卡|我{when}买的充值卡|{who}给我的充值卡)充不进去，一直提示充值失败。",
    ),
    "roaming": (
        "我(下周|过几天|{when})要去{country}，想开通国际漫游，要怎么办？",
        "我现在在{country}，手机没法用，是不是漫游没开？",
        "我在{country}待了{days}，回来一看扣了好几百的漫游费。",
        "出国的流量包怎么办？我要去{country}出差。",
        "我到{country}以后手机一直显示无服务，能帮我看看吗？",
        "去{country}旅游，漫游的话打电话和上网分别怎么收费？",
    ),
    "cancel_account": (
        "我想办理携号转网，要怎么(操作|办手续|弄)？",
        "这个号码(我不用了|用了{years}年，现在不用了)，想注销掉。",
        "你们老是乱扣钱，我要销户(，现在就办)。",
        "我要搬(走|到外地去)了，家里的宽带要拆机，怎么办手续？",
        "我想转网，帮我查一下(合约|优惠)什么时候(到期|结束)。",
        "我的副卡不想用了，能不能(直接|在电话里)注销？",
        "号码我想转到别的运营商去，就是携号转网，需要(什么手续|带什么证件)？",
        "用了{years}年了，服务越来越差，我不想用了，要退网。",
    ),
}

ZH_FOLLOW_UPS = {
    "preorder_failure": (
        "钱已经扣了，订单也查不到，钱什么时候退给我？",
        "我朋友跟我一样，也是预约失败，是不是你们系统出问题了？",
        "我就是在{shop}上弄的，付款记录都有。",
        "没有收到任何短信，就是页面提示失败。",
        "我付的是{deposit}，现在订单没了，名额还能不能给我保留？",
        "付过了，银行卡那边已经扣款了。",
    ),
    "delivery_lookup": (
        "订单号我都有，就是查不到任何物流。",
        "对，是在{shop}下的单，{days}前付的款。",
        "我打快递电话也没人管，说让我找你们。",
        "是寄到我家里的，家里一直有人，没人送过来。",
    ),
    "hotline_unreachable": (
        "我就是想问问订单的事，结果一个人都找不到。",
        "从早上九点打到中午，一直是忙音。",
        "我还以为你们这边也打不通呢。",
        "门店的电话也打了，一样没人接。",
    ),
    "billing_dispute": (
        "我从来没有开通过这个，也没有收到过任何短信。",
        "多扣的钱必须退给我，还得给我一个说法。",
        "就是这个月的账单，你查一下就知道了。",
        "我都没用过，凭什么收钱？",
    ),
    "plan_change": (
        "主要是流量不够用，电话打得不多。",
        "对，下个月开始就换，越快越好。",
        "我刷视频比较多，流量用得特别快。",
        "最好便宜一点，我主要就是打电话。",
    ),
    "broadband_fault": (
        "光猫和路由器都重启过了，还是不行。",
        "是从{when}开始的，之前一直好好的。",
        "家里所有的设备都连不上，不是手机的问题。",
        "已经报修过一次了，到现在也没人上门。",
    ),
    "signal_data": (
        "手机重启过了，换了卡槽也一样。",
        "就是在{place}，之前信号一直挺好的。",
        "我身边的同事用别的卡信号都挺好的。",
        "最近这一个星期都是这样。",
    ),
    "balance_recharge": (
        "是用{channel}充的，付款记录都有。",
        "充了{amount}，大概是{when}充的。",
        "我就想知道钱到底到哪里去了。",
        "短信查询也没反应。",
    ),
    "roaming": (
        "大概去{days}，主要是要上网用地图。",
        "手机设置里的数据漫游已经打开了。",
        "我走之前没有人跟我说要另外开通。",
        "我现在就在{country}，着急用。",
    ),
    "cancel_account": (
        "你们这边挽留也没用，我已经决定了。",
        "号码下面没有其他的业务了吧？",
        "我人在外地，能不能不去营业厅办？",
        "合约的事我不清楚，你帮我查一下。",
    ),
}

# agent questions, each with answers that fit it (the topic's follow-ups fit any question)
ZH_PROBES = {
    "preorder_failure": (
        (
            "请问您是在哪个渠道预约的？",
            ("就是在{shop}上弄的。", "{shop}，我一直都是在那上面买的。"),
        ),
        ("请问您付款成功了吗？", ("付过了，银行卡那边已经扣款了。", "钱已经扣了，付款记录都有。")),
        (
            "请问您有没有收到我们的短信通知？",
            ("没有，一条短信都没有。", "收到一条说成功的，后来又没了。"),
        ),
    ),
    "delivery_lookup": (
        ("请问您是在哪个渠道下的单？", ("在{shop}下的单，{days}前付的款。", "就是{shop}。")),
        (
            "请问您有没有联系过快递公司？",
            ("打过了，他们说让我找你们。", "联系不上，电话一直没人接。"),
        ),
    ),
    "hotline_unreachable": (
        (
            "非常抱歉让您久等了，请问您是想咨询什么问题呢？",
            ("我就是想问问新手机订单的事。", "我想问一下门店什么时候能提货。"),
        ),
        (
            "请问您之前拨打的是哪个号码？",
            ("就是商城页面上留的那个号码。", "门店贴在门口的那个电话。"),
        ),
    ),
    "billing_dispute": (
        ("请问是哪个月的账单呢？", ("就是这个月的，你查一下就知道了。", "上个月和这个月都有。")),
        (
            "请问您之前有没有办理过这项业务？",
            ("从来没有办过，我都不知道这是什么。", "没有，我连听都没听说过。"),
        ),
    ),
    "plan_change": (
        (
            "请问您平时流量和通话哪个用得比较多？",
            ("主要是流量，电话打得不多。", "电话多一些，流量用得少。"),
        ),
        ("请问您希望什么时候生效呢？", ("下个月开始就行，越快越好。", "能马上生效最好。")),
    ),
    "broadband_fault": (
        ("请问您重启过光猫和路由器了吗？", ("都重启过了，还是不行。", "重启了好几遍了，没用。")),
        (
            "请问是从什么时候开始出现这个情况的？",
            ("{when}开始的，之前一直好好的。", "大概{days}前开始的。"),
        ),
    ),
    "signal_data": (
        ("请问您重启过手机了吗？", ("重启过了，换了卡槽也一样。", "重启了好几次，没什么用。")),
        (
            "请问是在固定的地方信号差，还是到哪里都一样？",
            ("主要是在{place}。", "在{place}最明显，别的地方好一点。"),
        ),
    ),
    "balance_recharge": (
        ("请问您是通过什么方式充值的？", ("用{channel}充的，付款记录都有。", "{channel}。")),
        ("请问您充值的金额是多少？", ("充了{amount}，大概是{when}充的。", "{amount}。")),
    ),
    "roaming": (
        ("请问您大概要去多长时间？", ("大概{days}，主要是要上网用地图。", "{days}左右。")),
        ("请问您手机的数据漫游打开了吗？", ("手机设置里已经打开了。", "这个我不太清楚，怎么看？")),
    ),
    "cancel_account": (
        (
            "请问您是对哪方面的服务不满意呢？",
            ("就是觉得太贵了，别家便宜。", "我已经决定了，你们挽留也没用。"),
        ),
        (
            "请问您考虑好了吗？办理以后号码就不能恢复了。",
            ("考虑好了。", "想好了，你就告诉我怎么办吧。"),
        ),
    ),
}

ZH_RESOLUTIONS = {
    "preorder_failure": (
        "非常抱歉，系统出现了异常，扣款会原路退回。",
        "我已经帮您登记了，会有专人联系您。",
        "理解您的心情，处理结果会短信通知您。",
    ),
    "delivery_lookup": (
        "订单已经出库了，请您明天再查看一下物流。",
        "我已经帮您催单了，配送站会联系您。",
    ),
    "hotline_unreachable": (
        "今天来电特别多，我先帮您记录下来。",
        "我把问题转给商城，他们会直接联系您。",
    ),
    "billing_dispute": (
        "我已经帮您退订了，多扣的费用会退回。",
        "我帮您提交了核查，结果会短信告知您。",
    ),
    "plan_change": (
        "已经帮您办好了，新套餐下个月生效。",
        "好的，详细的资费我发到您手机上。",
    ),
    "broadband_fault": (
        "已经帮您提交报修了，师傅明天上门。",
        "您那边线路正在抢修，今晚之前会恢复。",
    ),
    "signal_data": (
        "我已经把信号问题提交给网络部门了。",
        "附近基站正在维护，两天内会恢复。",
    ),
    "balance_recharge": (
        "充值已经到账了，可能是短信延迟了。",
        "余额的明细我用短信发给您。",
    ),
    "roaming": (
        "已经帮您开通国际漫游了。",
        "我给您推荐一个出境流量包，按天收费。",
    ),
    "cancel_account": (
        "需要机主带身份证到营业厅办理。",
        "办理流程我用短信发给您。",
    ),
}

ZH = Lines(
    language="zh",
    ivr=(
        "您好，欢迎致电客服热线，人工服务请按零。",
        "您好，欢迎致电客户服务中心，话费查询请按一，人工服务请按零。",
        "您的来电将被录音，正在为您转接人工服务，请稍候。",
    ),
    greetings=("您好，很高兴为您服务，请问有什么可以帮您？", "您好，请问有什么可以帮您？"),
    callback=(
        "您好，这里是客服中心，您之前反映的问题我们给您回个电话，请问现在方便吗？",
        "您好，我是客服中心的，之前您来电咨询过，现在给您回复一下。",
    ),
    hellos=("喂，你好，", "喂，您好，", "你好，", "哎，你好，", "喂？你好，"),
    openers=(
        "我想问一下，",
        "是这样的，",
        "麻烦你帮我看看，",
        "我跟你说啊，",
        "我想反映个问题，",
        "请问一下，",
    ),
    contexts=(
        "我是你们的老用户了，",
        "我用你们的号{years}年了，",
        "我是替{who}打的电话，",
        "我现在在上班，长话短说，",
        "我刚才在营业厅问过了没问出结果，",
        "我在网上找了半天也没找到办法，",
        "{who}让我帮忙问一下，",
    ),
    closers=(
        "你帮我查一下吧。",
        "这个该怎么处理？",
        "你看怎么办吧。",
        "麻烦快点帮我弄一下。",
        "我现在该怎么办？",
        "你们给我解决一下。",
    ),
    tails=(
        "你们到底怎么回事？",
        "能不能尽快给我处理一下？",
        "我真的很着急。",
        "这也太不靠谱了吧。",
        "你们得给我一个说法。",
        "我现在特别生气。",
    ),
    escalations=(
        "再不解决我就去工信部投诉。",
        "你们再这样我就打电话给消协了。",
        "我已经准备投诉到通信管理局了。",
    ),
    repeats=(
        "我上次打电话已经说过一遍了。",
        "这已经是我第三次打过来了。",
        "之前反映过，一直没人管。",
    ),
    issues=ZH_ISSUES,
    follow_ups=ZH_FOLLOW_UPS,
    probes=ZH_PROBES,
    resolutions=ZH_RESOLUTIONS,
    thanks=(
        "好的，谢谢。",
        "行，那我等你们消息。",
        "好吧，尽快啊。",
        "好的，没有别的问题了。",
        "嗯，知道了，谢谢你。",
    ),
    goodbyes=("不客气，感谢您的来电，再见。", "好的，祝您生活愉快，再见。"),
    ask_phone=("为了核实身份，麻烦您报一下机主的手机号码。", "请问您的手机号码是多少？"),
    give_phone=("我的号码是{phone}。", "号码是{phone}。", "{phone}。", "手机号{phone}。"),
    ask_phone_address=("麻烦您提供一下手机号码和详细地址。", "请问您的联系电话和地址是？"),
    give_phone_address=("号码是{phone}，地址是{address}。", "电话{phone}，住在{address}。"),
    ask_phone_id=(
        "为了核实身份，请您提供一下机主的手机号码和身份证号码。",
        "麻烦您报一下手机号码，还有机主的身份证号。",
    ),
    give_phone_id=("手机号是{phone}，身份证号是{id}。", "号码{phone}，身份证{id}。"),
)

EN_ISSUES = {
    "preorder_failure": (
        "I tried to pre-order the {model} on your {shop} {when}, but it kept saying the reservation failed.",
        "My pre-order for the {model} was cancelled even though I paid {deposit}.",
        "I placed an order for the {model} {when} and the page showed an error, now the order has disappeared.",
        "I tried {times} to reserve the {model} and I still couldn't get a reservation.",
    ),
    "delivery_lookup": (
        "I bought the {model} {days} ago and I still can't find any delivery information.",
        "The order says shipped but the tracking number shows nothing.",
        "The courier says the parcel was delivered but I never received it.",
    ),
    "hotline_unreachable": (
        "I called the {hotline} {times} and no one answers.",
        "I've been trying to reach the {hotline} all day and can't get through.",
        "Your {hotline} is always busy, I can't get through to anyone.",
    ),
    "billing_dispute": (
        "I was overcharged {amount} on my bill this month.",
        "There is an unexpected charge for a {vas} I never signed up for, I want a refund.",
        "I think I was charged twice for my monthly fee.",
    ),
    "plan_change": (
        "I'd like to change my plan to the {plan}.",
        "Can I upgrade to a bigger data package? I keep running out.",
        "I want to switch to a {plan}, mine is too expensive.",
    ),
    "broadband_fault": (
        "My home broadband has been down since {when}.",
        "The fiber connection keeps dropping every evening.",
        "My router is not working, it shows a red light.",
    ),
    "signal_data": (
        "I have no signal {place}, I can't make calls.",
        "My mobile data is really slow these days.",
        "I keep getting dropped calls {place}, the signal is very weak.",
    ),
    "balance_recharge": (
        "I topped up {amount} through {channel} {when} but it hasn't arrived.",
        "Could you tell me my current balance, please?",
        "I paid my bill but the phone is still suspended.",
    ),
    "roaming": (
        "I'm travelling to {country} next week, how do I turn on roaming?",
        "I'm in {country} now and my phone doesn't work at all.",
        "I got a huge roaming bill after my trip to {country}.",
    ),
    "cancel_account": (
        "I want to cancel my account.",
        "I'd like to port my number to another operator.",
        "Please help me terminate the contract, I'm moving abroad.",
    ),
}

_EN_FOLLOW = (
    "I have the order number and the payment receipt.",
    "Please just sort it out as soon as possible.",
)
_EN_PROBE = (
    ("Could you tell me a bit more about the problem?", ("It's been like this since {when}.",)),
    ("When did this start?", ("It started {when}.", "It started {days} ago.")),
    ("Have you tried anything yet?", ("I already tried restarting, it didn't help.",)),
)
_EN_RESOLUTION = (
    "I've logged your case and a specialist will call you back within 24 hours.",
    "I've sorted that out for you, you'll get a text message to confirm.",
    "I'm sorry about this, I've escalated it and you'll hear from us by tomorrow.",
)

EN = Lines(
    language="en",
    ivr=("Thank you for calling customer service. Your call may be recorded. Please hold.",),
    greetings=(
        "Thank you for calling customer service, how can I help you today?",
        "Hello, customer service, how may I help you?",
    ),
    callback=("Hello, this is customer service returning your call, is now a good time?",),
    hellos=("Hello,", "Hi,"),
    openers=("I have a problem.", "Sorry to bother you."),
    contexts=("I've been with you for {years} years.", "I'm calling for {who}."),
    closers=("Can you check it for me?", "What should I do now?"),
    tails=("This is really frustrating.", "Please sort it out quickly."),
    escalations=("If this is not fixed I will report you to the regulator.",),
    repeats=("This is the third time I've called about it.",),
    issues=EN_ISSUES,
    follow_ups={topic: _EN_FOLLOW for topic in EN_ISSUES},
    probes={topic: _EN_PROBE for topic in EN_ISSUES},
    resolutions={topic: _EN_RESOLUTION for topic in EN_ISSUES},
    thanks=("Okay, thank you.", "Alright, thanks for your help."),
    goodbyes=("Thank you for calling, have a nice day. Goodbye.",),
    ask_phone=("Could I have your mobile number to verify your account?",),
    give_phone=("Sure, it's {phone}.", "My number is {phone}."),
    ask_phone_address=("Could I have your phone number and your address?",),
    give_phone_address=("My number is {phone}, and I live at {address}.",),
    ask_phone_id=("Could I have your phone number and your ID number, please?",),
    give_phone_id=("My number is {phone}, and my ID number is {id}.",),
)

LINES = {"zh": ZH, "en": EN}
