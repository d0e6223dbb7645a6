"""Hardening of the recordings source, the warehouse writes and the audio the web app serves:
links are never followed, duplicate manifest rows and odd entries are accounted for, a full
disk names the file and the space left, audio is served only for transcribed calls inside the
recordings root."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import re
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from callscope.core.config import load_config
from callscope.core.errors import BadRecordingError, WarehouseError
from callscope.pipeline.night import process_call
from callscope.storage.recordings import CallMeta, LocalRecordingSource, SourceError
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse
from callscope.web.app import create_app

from tests.conftest import make_day, write_tone
from tests.test_web_api import SECRET, sign_in
from tests.web_support import add_users

DAY = dt.date(2026, 11, 20)
SECRET_TEXT = b"root:x:0:0:root:/root:/bin/bash\n"


def source(root: Path) -> LocalRecordingSource:
    return LocalRecordingSource(root, ["wav", "flac"], "Asia/Shanghai")


def listed(root: Path) -> dict:
    return {rec.call_id: rec for rec in source(root).list_day(DAY)}


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file outside the recordings root that must never be read or served."""
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_bytes(SECRET_TEXT)
    return path


# 1. links -------------------------------------------------------------------------------
def test_a_link_is_an_error_row_whose_target_is_never_read(tmp_path, secret, settings):
    root = settings.recordings
    folder = make_day(root, DAY.isoformat(), {"ok-0001.wav": write_tone(tmp_path / "t.wav")})
    (folder / "leak-0001.wav").symlink_to(secret)
    (folder / "alias-0002.wav").symlink_to(folder / "ok-0001.wav")  # inside the root: a link too
    (folder / "gone-0003.wav").symlink_to(tmp_path / "nowhere.wav")
    recs = listed(root)
    assert recs["ok-0001"].problem is None
    for call_id in ("leak-0001", "alias-0002", "gone-0003"):
        problem = recs[call_id].problem
        assert problem.startswith(f"{call_id}.wav: a symbolic link"), problem
        assert "copy the recording itself into the day folder" in problem
        assert "passwd" not in problem

    warehouse = Warehouse(settings.warehouse)
    reads = []

    class Watched(LocalRecordingSource):
        def read(self, recording):
            reads.append(recording.call_id)
            return super().read(recording)

    watched = Watched(root, settings.source.extensions)
    outcome = process_call(recs["leak-0001"], watched, warehouse, settings)
    assert outcome.status == "error" and "symbolic link" in outcome.error
    assert reads == []
    row = warehouse.done_calls(DAY)["leak-0001"]
    assert row["audio_sha256"] is None and "leak-0001.wav" in row["error"]


def test_read_does_not_follow_a_link_swapped_in_after_listing(tmp_path, secret):
    make_day(tmp_path / "rec", DAY.isoformat(), {"c1.wav": write_tone(tmp_path / "t.wav")})
    rec = listed(tmp_path / "rec")["c1"]
    path = Path(rec.uri)
    path.unlink()
    path.symlink_to(secret)
    with pytest.raises(BadRecordingError, match="c1.wav: a symbolic link"):
        source(tmp_path / "rec").read(rec)


def test_a_named_pipe_is_an_error_row_and_is_not_opened(tmp_path):
    folder = make_day(tmp_path, DAY.isoformat(), {})
    os.mkfifo(folder / "pipe-0001.wav")
    rec = listed(tmp_path)["pipe-0001"]
    assert "not a regular file" in rec.problem
    with pytest.raises(BadRecordingError, match="not a regular file"):
        source(tmp_path).read(rec)  # would block forever if it were opened for reading


def test_a_linked_manifest_stops_the_listing_unread(tmp_path, secret):
    folder = make_day(tmp_path, DAY.isoformat(), {"c1.wav": write_tone(tmp_path / "t.wav")})
    (folder / "manifest.csv").symlink_to(secret)
    with pytest.raises(SourceError, match="manifest.csv: a symbolic link"):
        source(tmp_path).list_day(DAY)


# 2. duplicate manifest rows ---------------------------------------------------------------
def test_duplicate_manifest_rows_are_an_error_naming_the_lines(tmp_path):
    tone = write_tone(tmp_path / "t.wav")
    make_day(
        tmp_path,
        DAY.isoformat(),
        {"c1.wav": tone, "c2.wav": tone},
        "call_id,agent_id,queue\nc1,A1,billing\nc2,A2,billing\n\nc1,A9,preorder\n"
        "ghost,A3,x\nghost,A4,y\nghost,A5,z\n",
    )
    recs = listed(tmp_path)
    assert recs["c1"].problem == (
        "manifest.csv lists call c1 on lines 2 and 5; the call was not processed: "
        "keep one row per call and run the night again"
    )
    assert recs["c1"].meta == CallMeta()  # no guessed row
    assert recs["c2"].problem is None and recs["c2"].meta.agent_id == "A2"
    assert "no recording file ghost.*" in recs["ghost"].problem
    assert "lines 6, 7 and 8" in recs["ghost"].problem


# 3. every entry is a call, an error row or a logged ignore ---------------------------------
def test_hidden_files_folders_and_sidecars_are_logged_ignores(tmp_path, caplog):
    tone = write_tone(tmp_path / "t.wav").read_bytes()
    folder = make_day(
        tmp_path,
        DAY.isoformat(),
        {
            "c1.wav": tone,
            ".0003.wav": tone,
            ".DS_Store": b"\0",
            "._c1.wav": b"\0",
            "c1.json": b"{}",
        },
    )
    (folder / "exports").mkdir()
    with caplog.at_level(logging.INFO, logger="callscope"):
        recs = listed(tmp_path)
    assert set(recs) == {"c1"}
    log = caplog.text
    for name in (".0003.wav", ".DS_Store", "._c1.wav", "c1.json", "exports"):
        assert name in log, name
    assert "3 ignored as hidden files" in log and "1 ignored as folders: exports" in log
    assert "1 ignored as metadata sidecars (.json, .xml, .md5, .sha256): c1.json" in log
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(".0003.wav" in m and "rename it without the leading dot" in m for m in warned)


def test_a_supported_file_wins_over_another_file_of_the_same_call(tmp_path, caplog):
    tone = write_tone(tmp_path / "t.wav")
    make_day(tmp_path, DAY.isoformat(), {"c1.wav": tone, "c1.txt": b"notes"})
    with caplog.at_level(logging.WARNING, logger="callscope"):
        rec = listed(tmp_path)["c1"]
    assert rec.problem is None and Path(rec.uri).name == "c1.wav"
    assert "c1.txt: a second file for call c1; using c1.wav" in caplog.text


# 4. a full disk ---------------------------------------------------------------------------
class FullDisk(pafs.LocalFileSystem):
    """The local file system, with no room left for files whose path contains `full`."""

    full = "\0"
    code = errno.ENOSPC

    def open_output_stream(self, path, *args, **kwargs):
        stream = super().open_output_stream(path, *args, **kwargs)
        return _Filling(stream, self.code) if self.full in path else stream


class _Filling:
    """An output stream that takes a few bytes and then fails as a full disk does."""

    def __init__(self, stream, code: int, room: int = 16):
        self.stream, self.code, self.room = stream, code, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(self.code, os.strerror(self.code))
        self.room -= len(data)
        return self.stream.write(data)

    def tell(self) -> int:
        return self.stream.tell()

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        self.stream.close()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _rows(call_ids: list[str]) -> dict:
    calls = [{"call_id": c, "date": DAY, "status": "ok"} for c in call_ids]
    segments = [
        {"call_id": c, "date": DAY, "idx": 0, "start_s": 0.0, "end_s": 1.0, "text": c}
        for c in call_ids
    ]
    return {"calls": to_table("calls", calls), "segments": to_table("segments", segments)}


def _hidden_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.is_file() and not p.name.endswith(".lock")]


SIZE = r"[\d.]+ (B|KiB|MiB|GiB|TiB)"


@pytest.mark.parametrize(
    ("code", "what"),
    [(errno.ENOSPC, "no space left"), (errno.EDQUOT, "the disk quota is used up")],
)
def test_a_full_disk_names_the_file_and_the_space_left_and_keeps_the_day(tmp_path, code, what):
    fs = FullDisk()
    store = Warehouse(tmp_path / "wh", filesystem=fs)
    store.write_day(DAY, _rows(["old-1"]))
    fs.full, fs.code = "/segments/", code  # calls is written first, then segments fails
    with pytest.raises(WarehouseError) as raised:
        store.write_day(DAY, _rows(["new-1", "new-2"]))
    message = str(raised.value)
    target = f"{store.base}/segments/date={DAY}/part-0.parquet"
    assert message.startswith(f"{what} on the file system of {target} while writing it (")
    assert re.search(rf"\({SIZE} free of {SIZE}\)", message), message
    assert "free some space there" in message and "run the command again" in message
    assert isinstance(raised.value.__cause__, OSError) and raised.value.__cause__.errno == code
    assert store.read("calls", DAY)["call_id"].to_pylist() == ["old-1"]
    assert store.read("segments", DAY)["call_id"].to_pylist() == ["old-1"]
    assert _hidden_files(tmp_path / "wh") == []  # the calls file written first is gone too


def test_a_full_disk_while_staging_a_call_names_the_staged_file(tmp_path):
    fs = FullDisk()
    store = Warehouse(tmp_path / "wh", filesystem=fs)
    store.stage_call(DAY, {"call_id": "c1", "date": DAY, "status": "ok"}, [])
    fs.full = ".calls.parquet"
    with pytest.raises(WarehouseError, match=r"no space left on the file system of .*/_staging/"):
        store.stage_call(DAY, {"call_id": "c2", "date": DAY, "status": "ok"}, [])
    assert set(store.done_calls(DAY)) == {"c1"}
    assert _hidden_files(tmp_path / "wh") == []


# 1. the audio the web app serves ------------------------------------------------------------
@pytest.fixture
def audio_app(tmp_path, secret):
    """A warehouse with one playable call and calls whose recordings must not be served."""
    root = tmp_path / "recordings"
    settings = load_config(None, warehouse=tmp_path / "warehouse", recordings=root)
    folder = make_day(root, DAY.isoformat(), {"ok-0001.wav": write_tone(tmp_path / "t.wav")})
    (folder / "leak-0001.wav").symlink_to(secret)
    (folder / "text-0002.wav").write_bytes(b"this is not audio\n")
    (folder / "link-0003.wav").symlink_to(folder / "ok-0001.wav")
    elsewhere = write_tone(tmp_path / "outside" / "away-0004.wav")
    rows = {
        "ok-0001": ("ok", folder / "ok-0001.wav"),
        "leak-0001": ("error", folder / "leak-0001.wav"),
        "text-0002": ("error", folder / "text-0002.wav"),
        "link-0003": ("ok", folder / "link-0003.wav"),
        "away-0004": ("ok", elsewhere),
    }
    store = Warehouse(settings.warehouse)
    for call_id, (status, path) in rows.items():
        row = {"call_id": call_id, "date": DAY, "status": status, "source_uri": str(path)}
        store.stage_call(DAY, row, [])
    store.commit_day(DAY)
    add_users(settings)
    return create_app(settings, recordings=root, secret=SECRET)


@pytest.mark.parametrize(
    ("call_id", "status", "says"),
    [
        ("leak-0001", 404, "has no audio to play: it was not transcribed (status error)"),
        ("text-0002", 404, "has no audio to play: it was not transcribed (status error)"),
        ("link-0003", 403, "is a link or not a regular file; it is not served"),
        ("away-0004", 403, "is outside the recordings folder; it is not served"),
    ],
)
def test_audio_is_served_only_for_ok_calls_in_the_recordings_root(
    audio_app, secret, call_id, status, says
):
    client = sign_in(audio_app, "supervisor")
    ok = client.get("/api/calls/ok-0001/audio")
    assert ok.status_code == 200 and ok.content.startswith(b"RIFF")
    assert client.get("/api/calls/ok-0001").json()["audio_url"] == "/api/calls/ok-0001/audio"

    refused = client.get(f"/api/calls/{call_id}/audio")
    assert refused.status_code == status, refused.text
    assert says in refused.text and str(secret.parent) not in refused.text
    assert SECRET_TEXT not in refused.content
    assert client.get(f"/api/calls/{call_id}").json()["audio_url"] is None


# file names in other encodings --------------------------------------------------------------
GBK_NAME = os.fsdecode("客户来电-08.wav".encode("gbk"))  # as a Windows share lists it
RAW_NAME = os.fsdecode(b"rec\xff\xfe-09.wav")  # bytes that are no encoding at all


def tone_named(folder: Path, name: str, seconds: float = 1.0) -> Path:
    return write_tone(folder / "tone.wav", seconds).rename(folder / name)


def test_names_in_gbk_or_any_bytes_are_calls_with_readable_ids(tmp_path):
    folder = tmp_path / DAY.isoformat()
    folder.mkdir()
    tone_named(folder, GBK_NAME)
    (folder / RAW_NAME).write_bytes(b"")
    (folder / os.fsdecode("备注.txt".encode("gbk"))).write_bytes(b"not audio")
    (folder / "manifest.csv").write_text("call_id,agent_id\n客户来电-08,A7\n", encoding="utf-8")
    calls = listed(tmp_path)
    assert set(calls) == {"客户来电-08", "rec%FF%FE-09", "备注"}
    assert calls["客户来电-08"].meta.agent_id == "A7"  # the UTF-8 manifest names the GBK file
    assert calls["客户来电-08"].name == "客户来电-08.wav"
    assert calls["备注"].problem.startswith("备注.txt: unsupported file type .txt")
    for rec in calls.values():
        rec.call_id.encode("utf-8")  # storable as Parquet text
        (rec.problem or "").encode("utf-8")
    assert source(tmp_path).read(calls["客户来电-08"]) == (folder / GBK_NAME).read_bytes()


def test_stored_uris_of_any_name_lead_back_to_the_file(tmp_path):
    from callscope.storage.recordings import path_of_stored_uri, stored_uri

    for name in (GBK_NAME, RAW_NAME, "客户 01%41.wav", "plain.wav"):
        path = tmp_path / name
        uri = stored_uri(str(path))
        uri.encode("utf-8")
        assert path_of_stored_uri(uri) == path
    assert stored_uri(str(tmp_path / "plain.wav")) == str(tmp_path / "plain.wav")


def test_a_night_with_non_utf8_file_names_commits_every_call(tmp_path, settings):
    from callscope.pipeline.night import run_night

    folder = settings.recordings / DAY.isoformat()
    folder.mkdir(parents=True)
    tone_named(folder, GBK_NAME, 2.0)
    (folder / RAW_NAME).write_bytes(b"\x00" * 10)
    store = Warehouse(settings.warehouse)
    recordings = LocalRecordingSource.from_settings(settings)
    first = run_night(DAY, recordings, store, settings)
    calls = {row["call_id"]: row for row in store.read("calls", DAY).to_pylist()}
    assert set(calls) == {"客户来电-08", "rec%FF%FE-09"}
    assert calls["客户来电-08"]["status"] == "ok", calls["客户来电-08"]["error"]
    assert calls["rec%FF%FE-09"]["status"] == "error"
    assert calls["rec%FF%FE-09"]["error"].startswith("rec%FF%FE-09.wav: ")
    assert first.count("ok") + first.count("error") == 2
    again = run_night(DAY, recordings, store, settings)
    assert again.count("skipped") == 1 and store.read("calls", DAY).num_rows == 2


# manifests that are not what they seem --------------------------------------------------------
def test_a_folder_named_like_the_manifest_is_named_as_such(tmp_path):
    (tmp_path / DAY.isoformat() / "manifest.csv").mkdir(parents=True)
    with pytest.raises(SourceError, match="manifest.csv: a folder or other non-file"):
        listed(tmp_path)


def test_a_manifest_naming_a_column_twice_stops_with_the_column(tmp_path):
    make_day(tmp_path, DAY.isoformat(), {}, "call_id,agent_id,call_id\nx,A1,y\n")
    with pytest.raises(SourceError, match="names call_id more than once"):
        listed(tmp_path)


def test_a_nul_byte_in_a_manifest_value_is_the_row_s_problem_not_stored(tmp_path):
    write_tone(make_day(tmp_path, DAY.isoformat(), {}, "call_id,agent_id\nx,A\x001\n") / "x.wav")
    rec = listed(tmp_path)["x"]
    assert rec.meta.agent_id is None
    assert rec.problem == (
        "manifest.csv line 2: agent_id holds a control character (a NUL byte or similar); "
        "fix the manifest row"
    )


def test_a_day_folder_that_cannot_be_listed_says_which_and_what_to_do(tmp_path, monkeypatch):
    (tmp_path / DAY.isoformat()).mkdir()

    def refused(path):  # root reads any folder: the refusal a night's user meets is simulated
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", refused)
    with pytest.raises(SourceError, match="cannot be listed .Permission denied.; give the user"):
        listed(tmp_path)
