"""The catalogue of names (core/catalogue.py): the file, its errors, the names active on a
day, the `catalogue` commands, the hotwords and key of a call, and search by name."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from callscope.core.catalogue import (
    CatalogueError,
    CatalogueName,
    add_name,
    load_catalogue,
    parse_catalogue,
)
from callscope.core.config import CONFIG_DIR, load_config

DAY = dt.date(2026, 11, 20)
CONFUSIONS = frozenset({"zh-z", "ch-c", "sh-s", "n-l", "ng-n", "f-h", "u-i"})

GALAXY = """\
# launch names
names:
  - name: 星河九号
    kind: product
    aliases: [星河9号]
    english: Galaxy Nine
    from: 2026-11-15
  - name: 首发预约
    kind: campaign
    from: 2026-11-18
    until: 2026-11-19
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# the file ------------------------------------------------------------------------------------
def test_the_file_loads_with_its_names_aliases_and_dates(tmp_path):
    catalogue = load_catalogue(write(tmp_path / "catalogue.yaml", GALAXY))
    galaxy, preorder = catalogue.names
    assert (galaxy.name, galaxy.kind, galaxy.aliases) == ("星河九号", "product", ["星河9号"])
    assert (galaxy.english, galaxy.from_, galaxy.until) == (
        "Galaxy Nine",
        dt.date(2026, 11, 15),
        None,
    )
    assert preorder.kind == "campaign" and preorder.until == dt.date(2026, 11, 19)


def test_no_file_an_empty_file_and_the_shipped_file_are_empty_catalogues(tmp_path):
    assert not load_catalogue(tmp_path / "missing.yaml")
    assert not load_catalogue(None)
    assert not load_catalogue(write(tmp_path / "empty.yaml", "# nothing yet\n"))
    settings = load_config(None)
    assert settings.keywords.catalogue == CONFIG_DIR / "catalogue.yaml"
    assert not load_catalogue(settings.keywords.catalogue)
    demo = load_catalogue(CONFIG_DIR / "demo-catalogue.yaml")
    assert "星河九号" in {entry.name for entry in demo.active(DAY)}


def test_a_relative_catalogue_is_read_next_to_the_config(tmp_path):
    config = write(tmp_path / "site.yaml", "keywords:\n  catalogue: names.yaml\n")
    assert load_config(config).keywords.catalogue == tmp_path / "names.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("names:\n  - name: 星河九号\n    kind: phone\n", ["line 3", "names[0] (星河九号).kind"]),
        (
            "names:\n  - name: 星河九号\n  - name: 首发预约\n    from: 2026-11-20\n"
            "    until: 2026-11-01\n",
            ["line 3", "names[1] (首发预约)", "until (2026-11-01) is before from"],
        ),
        ("names:\n  - name: 星河九号\n    from: soon\n", ["line 3", "names[0] (星河九号).from"]),
        ("names:\n  - name: 星河九号\n    colour: blue\n", ["line 3", ".colour"]),
        (
            "names:\n  - name: 星河九号\n    aliases: [星河9号]\n  - name: 星河9号\n",
            ["is a spelling of both"],
        ),
        ("names: [\n", ["not valid YAML"]),
        ("- 星河九号\n", ["must hold a mapping"]),
    ],
)
def test_a_bad_file_names_the_file_the_line_and_the_field(tmp_path, text, expected):
    path = write(tmp_path / "catalogue.yaml", text)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert str(path) in message
    for part in expected:
        assert part in message, message


def test_the_names_active_on_a_day(tmp_path):
    catalogue = parse_catalogue(GALAXY)
    assert [e.name for e in catalogue.active(dt.date(2026, 11, 14))] == []
    assert [e.name for e in catalogue.active(dt.date(2026, 11, 15))] == ["星河九号"]
    assert [e.name for e in catalogue.active(dt.date(2026, 11, 19))] == ["星河九号", "首发预约"]
    assert [e.name for e in catalogue.active(DAY)] == ["星河九号"]
    assert catalogue.hotwords(dt.date(2026, 11, 18), ["zh", "en"]) == {
        "zh": ["星河九号", "首发预约"],
        "en": ["Galaxy Nine"],
    }
    assert catalogue.hotwords(DAY, ["zh"]) == {"zh": ["星河九号"]}
    assert catalogue.hotwords(dt.date(2026, 1, 1), ["zh", "en"]) == {}


def test_a_heard_spelling_maps_to_the_canonical_name():
    catalogue = parse_catalogue(GALAXY)
    assert catalogue.canonical("星和九号", CONFUSIONS) == "星河九号"  # he2 / he2: same sound
    assert catalogue.canonical("星河9号", CONFUSIONS) == "星河九号"  # an alias
    assert catalogue.canonical("手发预约", frozenset()) == "首发预约"  # the same pinyin
    assert catalogue.canonical("新河九号", CONFUSIONS) == "星河九号"  # xin / xing: ng-n merged
    assert catalogue.canonical("新河九号", frozenset()) is None  # not without the confusion
    assert catalogue.canonical("退款", CONFUSIONS) is None
    assert catalogue.spellings == frozenset({"星河九号", "首发预约"})


def test_adding_a_name_keeps_the_others_and_the_leading_comments(tmp_path):
    path = write(tmp_path / "catalogue.yaml", GALAXY)
    entry = CatalogueName(name="星河折叠屏", aliases=["星河折叠"], **{"from": DAY})
    catalogue, replaced = add_name(path, entry)
    assert not replaced
    assert path.read_text(encoding="utf-8").startswith("# launch names\n")
    again = load_catalogue(path)
    assert again == catalogue
    assert [e.name for e in again.names] == ["星河九号", "首发预约", "星河折叠屏"]
    assert again.names[0].english == "Galaxy Nine"
    _, replaced = add_name(path, CatalogueName(name="星河折叠屏", kind="product"))
    assert replaced and load_catalogue(path).names[-1].aliases == []
    assert [p.name for p in tmp_path.iterdir()] == ["catalogue.yaml"]  # no temporary left


# the commands --------------------------------------------------------------------------------
def _cli(*args: str):
    from typer.testing import CliRunner

    from callscope.cli import app

    return CliRunner().invoke(app, list(args))


def test_catalogue_add_and_list_through_the_command_line(tmp_path):
    config = write(tmp_path / "site.yaml", "keywords:\n  catalogue: names.yaml\n")
    common = ["--config", str(config), "--warehouse", str(tmp_path / "wh")]
    added = _cli(
        "catalogue",
        "add",
        "星河九号",
        "--alias",
        "星河9号",
        "--alias",
        "Star Nine",
        "--english",
        "Galaxy Nine",
        "--from",
        "2026-11-15",
        *common,
    )
    assert added.exit_code == 0, added.output
    assert "added 星河九号" in added.output
    campaign = _cli(
        "catalogue",
        "add",
        "首发预约",
        "--kind",
        "campaign",
        "--from",
        "2026-11-18",
        "--until",
        "2026-11-19",
        *common,
    )
    assert campaign.exit_code == 0, campaign.output

    listed = _cli("catalogue", "list", "--json", *common)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == [
        {
            "name": "星河九号",
            "kind": "product",
            "aliases": ["星河9号", "Star Nine"],
            "english": "Galaxy Nine",
            "from": "2026-11-15",
            "until": None,
        },
        {
            "name": "首发预约",
            "kind": "campaign",
            "aliases": [],
            "english": None,
            "from": "2026-11-18",
            "until": "2026-11-19",
        },
    ]
    on_day = _cli("catalogue", "list", "--date", "2026-11-20", "--json", *common)
    assert [row["name"] for row in json.loads(on_day.output)] == ["星河九号"]
    assert (
        "星河九号 (also 星河9号, Star Nine) [Galaxy Nine]: product, from 2026-11-15"
        in _cli("catalogue", "list", *common).output
    )

    bad_kind = _cli("catalogue", "add", "星河", "--kind", "phone", *common)
    assert bad_kind.exit_code == 2 and "--kind 'phone'" in bad_kind.output
    bad_date = _cli("catalogue", "add", "星河", "--from", "soon", *common)
    assert bad_date.exit_code == 2 and "--from 'soon' is not a date" in bad_date.output
    taken = _cli("catalogue", "add", "星河9号", *common)  # another name's alias
    assert taken.exit_code == 2 and "is a spelling of both" in taken.output
    assert len(load_catalogue(tmp_path / "names.yaml").names) == 2


# the recogniser: the day's names as hotwords, and in the call's key ---------------------------
def _with_catalogue(settings, path: Path):
    keywords = settings.keywords.model_copy(update={"catalogue": path})
    return settings.model_copy(update={"keywords": keywords})


def test_a_calls_hotwords_are_its_days_names_first(settings, tmp_path):
    from callscope.pipeline.steps import settings_on

    assert settings_on(settings, DAY) is settings  # the shipped catalogue is empty
    named = _with_catalogue(settings, write(tmp_path / "catalogue.yaml", GALAXY))
    on_day = settings_on(named, DAY)
    telecom = settings.asr.hotwords["zh"]
    assert on_day.asr.hotwords["zh"] == "星河九号 " + telecom
    assert on_day.asr.hotwords["en"] == "Galaxy Nine"
    assert (
        settings_on(named, dt.date(2026, 11, 18))
        .asr.hotwords["zh"]
        .startswith("星河九号 首发预约 ")
    )
    assert settings_on(named, dt.date(2026, 11, 1)) is named  # none active yet
    zh_only = named.model_copy(update={"asr": named.asr.model_copy(update={"languages": ["zh"]})})
    assert "en" not in settings_on(zh_only, DAY).asr.hotwords


def test_the_call_key_changes_with_the_names_of_its_day_only(settings, tmp_path):
    from callscope.pipeline.runner import CallRunner

    def keys(path: Path) -> dict[dt.date, str]:
        runner = CallRunner(_with_catalogue(settings, path), None, None)
        return {day: runner.on_day(day)[1] for day in (dt.date(2026, 11, 10), DAY)}

    path = tmp_path / "catalogue.yaml"
    before = keys(path)  # no file: the key of today's warehouses, every day
    assert set(before.values()) == {CallRunner(settings, None, None).settings_hash}
    write(path, "names: []\n")
    assert keys(path) == before
    add_name(path, CatalogueName(name="星河九号", **{"from": DAY}))
    after = keys(path)
    assert after[dt.date(2026, 11, 10)] == before[dt.date(2026, 11, 10)]  # not active then
    assert after[DAY] != before[DAY]
    add_name(path, CatalogueName(name="首发预约", until=dt.date(2026, 11, 1)))
    assert keys(path) == after  # active on other days only: no call here is redone
    add_name(path, CatalogueName(name="星河折叠屏", **{"from": dt.date(2026, 11, 10)}))
    assert all(keys(path)[day] != after[day] for day in after)


def test_a_real_call_is_transcribed_with_its_days_names(settings, tmp_path, zh_clip, monkeypatch):
    """One short real transcription (4.2 s of Mandarin): the recogniser gets the day's names."""
    import faster_whisper
    from callscope.pipeline.runner import CallRunner
    from callscope.pipeline.steps import CALL_STEPS, CallStep
    from callscope.storage.recordings import LocalRecordingSource
    from callscope.storage.warehouse import Warehouse

    from tests.conftest import make_day

    asked: list[str | None] = []
    real = faster_whisper.BatchedInferencePipeline.transcribe

    def transcribe(self, audio, *args, **kwargs):
        asked.append(kwargs.get("hotwords"))
        return real(self, audio, *args, **kwargs)

    monkeypatch.setattr(faster_whisper.BatchedInferencePipeline, "transcribe", transcribe)
    seen: list[str] = []
    look = CallStep(
        "look", "look-1", lambda s: None, lambda call: seen.append(call.transcript), on="cpu"
    )
    named = _with_catalogue(settings, write(tmp_path / "catalogue.yaml", GALAXY))
    make_day(named.recordings, DAY.isoformat(), {"zh.wav": zh_clip})
    source = LocalRecordingSource(named.recordings, named.source.extensions)
    runner = CallRunner(named, source, Warehouse(named.warehouse), steps=(*CALL_STEPS[:2], look))
    [outcome] = runner.run(source.list_day(DAY), {})
    assert outcome.status == "ok", outcome.error
    assert asked and all(words.startswith("星河九号 ") for words in asked)
    [transcript] = seen
    assert transcript.language == "zh" and "".join(s["text"] for s in transcript.segments)


# search and naming: a name finds its heard spellings and aliases --------------------------------
CALLS = {
    "written": ("a1", "sales", [("customer", "星河九号预约没成功")]),
    "heard": ("a1", "sales", [("customer", "我订的星和九号还没发货")]),
    "alias": ("a2", "sales", [("customer", "星河9号什么时候到")]),
    "other": ("a2", "billing", [("customer", "这个月话费多扣了")]),
}


@pytest.fixture(params=["tantivy", "sqlite"])
def named_index(tmp_path, request):
    from callscope.keywords.daily import update_index
    from callscope.keywords.index import SearchIndex
    from callscope.storage.warehouse import Warehouse

    from tests.test_search import put_day

    store = Warehouse(tmp_path / "warehouse")
    put_day(store, DAY, CALLS)
    path = write(tmp_path / "catalogue.yaml", GALAXY)
    index = SearchIndex(
        tmp_path / "warehouse" / "search",
        engine=request.param,
        confusions=CONFUSIONS,
        catalogue=path,
    )
    update_index(store, index, DAY)
    yield index
    index.close()


def test_a_search_for_a_name_finds_its_heard_spellings_and_aliases(named_index):
    result = named_index.search("星河九号", limit=10)
    assert {hit.call_id for hit in result.hits} == {"written", "heard", "alias"}
    assert result.query == "(~星河九号 OR 星河9号)"
    assert {hit.call_id for hit in named_index.search("星河9号").hits} == {
        "written",
        "heard",
        "alias",
    }  # an alias is the name too
    assert named_index.search("星河九号 NOT 发货").total == 2
    assert named_index.search("话费 -星河九号").total == 1
    assert sum(named_index.day_counts("星河九号").values()) == 3
    named_index.catalogue = None  # without the catalogue: as written
    assert named_index.search("星河九号").total == 1


def test_with_names_leaves_other_queries_as_they_are():
    from callscope.keywords.query import with_names

    names = {"星河九号": ["星河九号", "星河9号", "Star Nine"]}
    assert with_names("话费 OR 退款", names) == "话费 OR 退款"
    assert with_names('"星河九号" 抢不到', names) == '(~星河九号 OR 星河9号 OR "Star Nine") 抢不到'
    assert with_names("星河九号", {}) == "星河九号"


def test_topic_names_prefer_the_catalogues_spellings(settings, tmp_path):
    from callscope.pipeline.steps import DayContext

    named = _with_catalogue(settings, write(tmp_path / "catalogue.yaml", GALAXY))
    spellings = DayContext(None, DAY, named).naming().spellings
    assert {"星河九号", "首发预约"} <= spellings
    assert "星河九号" not in DayContext(None, DAY, settings).naming().spellings
