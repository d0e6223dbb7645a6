"""A small real warehouse for the web app's tests: nine days of calls (eight normal, then a
launch day with a spike of failed pre-orders), categories, emotion, incidents and the search
index made by the same code as the night, and the demo day's own recordings (synth/data)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from callscope.core.config import Settings, load_config
from callscope.pipeline.steps import DayRunner
from callscope.privacy.redact import redact_segments
from callscope.storage.warehouse import Warehouse
from callscope.synth.demoday import CLIPS

from tests.test_incidents import LAUNCH, call_segments, normal_days

AUDIO_CALL = "launch-audio"  # the real Mandarin pre-order recording, with its script's times
PHONE_TEXT = "我的手机号是13812345678，麻烦尽快回电。"
AGENTS = ["A100", "A101", "A102"]
PASSWORD = "correct horse battery"
ROLES = ("supervisor", "analyst", "marketing")


@dataclass
class WebWarehouse:
    root: Path
    settings: Settings
    recordings: Path
    audio_call: str = AUDIO_CALL
    launch: dt.date = LAUNCH


def build(root: Path) -> WebWarehouse:
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
    settings.web.language = "en"  # pages read as the tests write them; the browser tests: zh-CN
    store = Warehouse(settings.warehouse)
    recordings = root / "recordings"
    plan = normal_days(8) | {LAUNCH: {"preorder": 12, "billing": 5, "broadband": 4}}
    for day, counts in sorted(plan.items()):
        folder = recordings / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        generic = folder / "generic.flac"
        shutil.copy(CLIPS / "en_stereo_call.flac", generic)
        _stage_day(store, day, counts, generic)
        if day == LAUNCH:
            _stage_audio_call(store, day, folder)
        DayRunner(store, day, settings).run()
    return WebWarehouse(root, settings, recordings)


def _stage_day(store: Warehouse, day: dt.date, counts: dict[str, int], audio: Path) -> None:
    rng = random.Random(day.toordinal())
    for topic, n in counts.items():
        for i in range(n):
            call_id = f"{day:%m%d}-{topic}-{i:03d}"
            segments = [{**s, "date": day} for s in call_segments(call_id, topic, rng, i % 2 == 0)]
            redact_segments(segments)
            started = dt.datetime.combine(day, dt.time(9), dt.UTC) + dt.timedelta(minutes=i)
            row = {
                "call_id": call_id,
                "date": day,
                "status": "ok",
                "queue": topic,
                "agent_id": AGENTS[i % len(AGENTS)],
                "started_at": started,
                "duration_s": segments[-1]["end_s"],
                "n_segments": len(segments),
                "language": "zh",
                "source_uri": str(audio),
            }
            store.stage_call(day, row, segments)


def _stage_audio_call(store: Warehouse, day: dt.date, folder: Path) -> None:
    audio = folder / f"{AUDIO_CALL}.flac"
    shutil.copy(CLIPS / "zh_preorder_call.flac", audio)
    script = json.loads((CLIPS / "zh_preorder_call.json").read_text(encoding="utf-8"))
    script.append({"speaker": "customer", "text": PHONE_TEXT, "start_s": 37.2, "end_s": 37.5})
    segments = [
        {
            "call_id": AUDIO_CALL,
            "date": day,
            "idx": idx,
            "start_s": turn["start_s"],
            "end_s": turn["end_s"],
            "speaker": turn["speaker"],
            "channel": 0 if turn["speaker"] == "agent" else 1,
            "text": turn["text"],
            "language": "zh",
        }
        for idx, turn in enumerate(script)
    ]
    redact_segments(segments)
    row = {
        "call_id": AUDIO_CALL,
        "date": day,
        "status": "ok",
        "queue": "preorder",
        "agent_id": "A100",
        "started_at": dt.datetime.combine(day, dt.time(11), dt.UTC),
        "duration_s": 37.51,
        "channels": 2,
        "n_segments": len(segments),
        "language": "zh",
        "source_uri": str(audio),
    }
    store.stage_call(day, row, segments)


def add_users(settings: Settings) -> None:
    from callscope.web.auth import UserStore

    store = UserStore(settings.web_dir / "users.json")
    for role in ROLES:
        store.add(role, role, PASSWORD, replace=True)


# signed-in clients of the real app ----------------------------------------------------------
SECRET = b"test-secret-" + b"x" * 32


def make_app(built: WebWarehouse, secret: bytes = SECRET, **web):
    """The real app over the shared warehouse (`web` overrides the web settings)."""
    from callscope.web.app import create_app

    settings = built.settings
    if web:
        settings = settings.model_copy(update={"web": settings.web.model_copy(update=web)})
    return create_app(settings, recordings=built.recordings, secret=secret)


def sign_in(app, name: str, password: str = PASSWORD, client=None):
    """A client of `app` (or `client`, one already made) signed in as `name` through the
    sign-in form."""
    from fastapi.testclient import TestClient

    client = client or TestClient(app, follow_redirects=False)
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf": form_token(client), "next": ""}
    )
    assert response.status_code == 303, response.text
    return client


def form_token(client) -> str:
    """The sign-in form's token (its cookie is kept by the client)."""
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)


def csrf(client) -> str:
    return client.get("/api/me").json()["csrf"]


def chart_data(page: str, figure_id: str) -> dict:
    """The data a page carries for charts.js in the chart inside <figure id=figure_id>."""
    import html

    found = re.search(rf'<figure id="{figure_id}">.*?data-chart=\'([^\']*)\'', page, re.S)
    assert found, f"no chart data in #{figure_id}"
    return json.loads(html.unescape(found.group(1)))
