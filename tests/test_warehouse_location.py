"""The warehouse as a folder or a URI: a file:// warehouse is the same warehouse as its folder,
the hand-off follows it onto other file systems, a location no file system opens is one error
naming the setting, and the parts that need a POSIX folder say so in one error."""

import datetime as dt
import json
import time
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from callscope.core.config import load_config
from callscope.core.errors import ConfigError, LocationError, NotALocalFolder, WarehouseError
from callscope.core.location import join, open_filesystem
from callscope.incidents.handoff import handoff_folder, read_handoff, write_handoff
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from callscope.cli import app

DAY = dt.date(2026, 11, 20)
AT = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC)
S3 = "s3://callscope-test-bucket/warehouse?region=eu-west-1"


def call_row(call_id: str, **extra) -> dict:
    return {
        "call_id": call_id,
        "date": DAY,
        "status": "ok",
        "settings_hash": "h1",
        "duration_s": 61.5,
        "channels": 2,
        "language": "zh",
        "n_segments": 2,
        "processed_at": AT,
        **extra,
    }


def segments(call_id: str) -> list[dict]:
    return [
        {
            "call_id": call_id,
            "date": DAY,
            "idx": i,
            "start_s": float(i),
            "end_s": i + 0.8,
            "speaker": "agent" if i % 2 == 0 else "customer",
            "text": f"您好，第{i}句",
        }
        for i in range(2)
    ]


def fill(store: Warehouse) -> Warehouse:
    for call_id in ("c-1", "c-2"):
        store.stage_call(DAY, call_row(call_id), segments(call_id))
    assert store.commit_day(DAY) == 2
    return store


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No AWS credentials anywhere the SDK looks, no instance metadata, and an endpoint on
    loopback: whatever is tried, nothing leaves this machine."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


# a file:// warehouse --------------------------------------------------------------------------
def test_a_file_uri_warehouse_commits_and_reads_the_same_rows_as_its_folder(tmp_path):
    folder = tmp_path / "a folder with spaces"
    uri = folder.as_uri()
    assert "%20" in uri  # a URI spells the space as pyarrow parses it
    settings = load_config(None, warehouse=uri)
    assert settings.warehouse == uri
    by_uri = fill(Warehouse.from_settings(settings))
    plain = fill(Warehouse(tmp_path / "plain"))
    assert by_uri.local and by_uri.root == folder and by_uri.base == str(folder.resolve())
    assert (folder / "calls" / f"date={DAY}" / "part-0.parquet").is_file()
    for table in ("calls", "segments"):
        assert by_uri.read(table, DAY).equals(plain.read(table, DAY)), table
    assert by_uri.days() == plain.days() == [DAY]
    # everything that needs a folder finds the same one
    assert settings.search_index == folder / "search" and settings.web_dir == folder / "web"
    assert by_uri.local_path("the day lock") == folder.resolve()


def test_a_relative_folder_is_still_made_absolute_and_stays_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_config(None, warehouse="wh", handoff="bundles")
    assert settings.warehouse == tmp_path / "wh" and isinstance(settings.warehouse, Path)
    assert settings.handoff == tmp_path / "bundles"
    assert load_config(None, warehouse="wh").handoff_dir == tmp_path / "wh" / "handoff"


def test_the_environment_gives_a_uri_as_written(tmp_path, monkeypatch):
    uri = (tmp_path / "wh").as_uri()
    monkeypatch.setenv("CALLSCOPE_WAREHOUSE", uri)
    settings = load_config(None)
    assert settings.warehouse == uri and settings.handoff_dir == f"{uri}/handoff"
    assert join(S3, "handoff") == "s3://callscope-test-bucket/warehouse/handoff?region=eu-west-1"


def test_cli_calls_reads_a_file_uri_warehouse(tmp_path):
    folder = tmp_path / "wh"
    fill(Warehouse(folder))
    runner = CliRunner()
    listed = runner.invoke(
        app, ["calls", "--warehouse", folder.as_uri(), "--date", DAY.isoformat(), "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert [row["call_id"] for row in json.loads(listed.output)] == ["c-1", "c-2"]
    latest = runner.invoke(app, ["calls", "--warehouse", folder.as_uri()])
    assert latest.exit_code == 0, latest.output
    assert "c-1" in latest.output and "c-2" in latest.output


# locations no file system opens -----------------------------------------------------------------
def test_an_unknown_scheme_is_one_config_error_naming_the_setting(tmp_path):
    settings = load_config(None, warehouse="ftp://files.example/warehouse")
    with pytest.raises(LocationError) as raised:
        Warehouse.from_settings(settings)
    message = str(raised.value)
    assert isinstance(raised.value, ConfigError) and raised.value.exit_code == 2
    assert message.startswith("warehouse ftp://files.example/warehouse cannot be opened: ftp:")
    assert "s3://" in message and "$CALLSCOPE_WAREHOUSE or --warehouse" in message
    result = CliRunner().invoke(app, ["calls", "--warehouse", "ftp://files.example/warehouse"])
    assert result.exit_code == 2
    assert "error: warehouse ftp://files.example/warehouse cannot be opened" in result.output
    assert "Traceback" not in result.output


def test_a_uri_pyarrow_rejects_names_the_setting_and_its_reason(tmp_path):
    with pytest.raises(LocationError, match=r"^handoff file:relative cannot be opened: .*relat"):
        open_filesystem("file:relative", "handoff")
    with pytest.raises(
        LocationError, match=r"^warehouse s3:///warehouse cannot be opened: no bucket"
    ):
        open_filesystem("s3:///warehouse")


def test_s3_without_credentials_fails_at_once_without_the_network(no_aws):
    started = time.monotonic()
    with pytest.raises(LocationError) as raised:
        Warehouse.from_settings(load_config(None, warehouse=S3))
    assert time.monotonic() - started < 2.0  # no region lookup, no metadata service
    message = str(raised.value)
    assert message.startswith(f"warehouse {S3} cannot be opened: no AWS credentials found")
    assert "$AWS_ACCESS_KEY_ID" in message and "?anonymous=true" in message
    result = CliRunner().invoke(app, ["calls", "--warehouse", S3])
    assert result.exit_code == 2 and "no AWS credentials found" in result.output


def test_credentials_in_a_uri_are_refused_and_never_printed(no_aws):
    uri = "s3://bucket/wh?region=eu-west-1&access_key=AKIDEXAMPLE&secret_key=very-secret"
    with pytest.raises(LocationError) as raised:
        open_filesystem(uri)
    message = str(raised.value)
    assert "very-secret" not in message and "AKIDEXAMPLE" not in message
    assert "secret_key=***" in message and "in the environment" in message


# what needs a POSIX folder -------------------------------------------------------------------
def test_parts_that_need_a_local_folder_say_so_in_one_error(tmp_path):
    settings = load_config(None, warehouse=S3)
    errors = []
    for part in ("search_index", "web_dir"):
        with pytest.raises(NotALocalFolder) as raised:
            getattr(settings, part)
        errors.append(str(raised.value))
    prefix = f"warehouse {S3} is not a local folder: "
    assert all(e.startswith(prefix) and "mount the bucket" in e for e in errors), errors
    assert "the search index needs one; set search.index to a local folder" in errors[0]
    assert "the web app" in errors[1]
    # the index can live elsewhere; the hand-off follows the warehouse onto the bucket
    moved = load_config(None, warehouse=S3, search={"index": str(tmp_path / "index")})
    assert moved.search_index == tmp_path / "index"
    assert moved.handoff_dir == join(S3, "handoff")


def test_a_warehouse_on_another_file_system_reads_and_stages_but_needs_a_folder_to_commit(
    tmp_path,
):
    (tmp_path / "store").mkdir()
    fs = pafs.SubTreeFileSystem(str(tmp_path / "store"), pafs.LocalFileSystem())
    store = Warehouse("wh", filesystem=fs)
    assert not store.local
    store.stage_call(DAY, call_row("c-1"), segments("c-1"))
    assert set(store.done_calls(DAY)) == {"c-1"}
    with pytest.raises(NotALocalFolder) as raised:
        store.commit_day(DAY)
    assert isinstance(raised.value, WarehouseError)  # what lock_day raised before
    assert str(raised.value).startswith(
        "warehouse wh (subtree) is not a local folder: the day lock"
    )
    assert store.read("calls", DAY).num_rows == 0  # nothing was committed


def test_serve_on_a_bucket_names_the_setting(no_aws):
    result = CliRunner().invoke(app, ["serve", "--warehouse", S3])
    assert result.exit_code == 2
    assert f"error: warehouse {S3} is not a local folder: the web app" in result.output


# the hand-off ---------------------------------------------------------------------------------
def test_a_handoff_uri_writes_the_same_bundle_as_its_folder(tmp_path):
    store = fill(Warehouse(tmp_path / "wh"))
    plain = write_handoff(store, DAY, tmp_path / "plain")
    folder = tmp_path / "by uri"
    by_uri = write_handoff(store, DAY, folder.as_uri())
    assert by_uri.folder == folder / DAY.isoformat() and plain.calls == by_uri.calls == 2
    names = sorted(p.name for p in by_uri.folder.iterdir())
    assert names == sorted(p.name for p in plain.folder.iterdir())
    assert names == ["calls.parquet", "incidents.parquet", "manifest.json", "summary.md"]
    for name in ("calls.parquet", "incidents.parquet", "summary.md"):
        assert (by_uri.folder / name).read_bytes() == (plain.folder / name).read_bytes(), name
    manifest = read_handoff(folder.as_uri(), DAY)
    assert manifest["files"] == read_handoff(tmp_path / "plain", DAY)["files"]
    assert handoff_folder(folder.as_uri(), DAY) == by_uri.folder
    assert sorted(p.name for p in folder.iterdir()) == [DAY.isoformat()]  # no staging left


class ObjectStore(pafs.FileSystemHandler):
    """A folder served as an object store serves it: files are written and deleted one by one
    and a folder cannot be renamed (pyarrow's S3 and GCS file systems refuse to)."""

    def __init__(self, root: Path):
        self.fs = pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())

    def get_type_name(self):
        return "object-store"

    def normalize_path(self, path):
        return path

    def equals(self, other):
        return self is other

    def get_file_info(self, paths):
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        self.fs.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path):
        self.fs.delete_file(path)

    def move(self, src, dest):
        if self.fs.get_file_info(src).type == pafs.FileType.Directory:
            raise OSError("an object store cannot rename a folder")
        self.fs.move(src, dest)

    def copy_file(self, src, dest):
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def open_input_file(self, path):
        return self.fs.open_input_file(path)

    def open_output_stream(self, path, metadata):
        return self.fs.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path, metadata):
        return self.fs.open_append_stream(path, metadata=metadata)


def test_on_an_object_store_the_handoff_is_replaced_in_place_with_the_manifest_last(tmp_path):
    store = fill(Warehouse(tmp_path / "wh"))
    (tmp_path / "bucket").mkdir()
    fs = pafs.PyFileSystem(ObjectStore(tmp_path / "bucket"))
    first = write_handoff(store, DAY, "handoff", filesystem=fs)
    bundle = tmp_path / "bucket" / "handoff" / DAY.isoformat()
    assert first.folder == f"handoff/{DAY.isoformat()}"
    (bundle / "stale.txt").write_text("from an older run")
    second = write_handoff(store, DAY, "handoff", filesystem=fs)
    assert second.calls == 2
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["calls.parquet", "incidents.parquet", "manifest.json", "summary.md"]
    manifest = read_handoff("handoff", DAY, filesystem=fs)
    assert manifest["calls"] == 2 and set(manifest["files"]) == set(names) - {"manifest.json"}
    assert pq.read_table(bundle / "calls.parquet").num_rows == 2
    assert handoff_folder("handoff", DAY, filesystem=fs) == f"handoff/{DAY.isoformat()}"
    assert handoff_folder("handoff", DAY + dt.timedelta(days=1), filesystem=fs) is None
    # the manifest is what tells a complete bundle: without it there is none
    (bundle / "manifest.json").unlink()
    assert read_handoff("handoff", DAY, filesystem=fs) is None
