"""`callscope doctor`: passes on a machine ready for its first night, and fails, naming the
check, for each problem it can be made to find here (a missing model folder, a read-only
warehouse, an unreachable Prefect server, a short session secret, cuda without a GPU)."""

from __future__ import annotations

import json
import os
import socket

import pytest
from typer.testing import CliRunner

from callscope.cli import app

runner = CliRunner()
ENVIRONMENT = (
    "PREFECT_API_URL",
    "CALLSCOPE_CONFIG",
    "CALLSCOPE_SECRET_KEY",
    "CALLSCOPE_SECRET_KEY_FILE",
    "CALLSCOPE_SHARD_TOKEN",
    "CALLSCOPE_SHARD_TOKEN_FILE",
)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Recordings and warehouse folders of a fresh machine; no Prefect server, no secrets."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    folders = {"recordings": tmp_path / "recordings", "warehouse": tmp_path / "warehouse"}
    for folder in folders.values():
        folder.mkdir()
    return folders


def doctor(machine, *options: str):
    """(exit status, output) of `callscope doctor` over the machine's folders."""
    result = runner.invoke(
        app,
        ["doctor", "--recordings", str(machine["recordings"]),
         "--warehouse", str(machine["warehouse"]), *options],
    )  # fmt: skip
    return result.exit_code, result.stdout


def doctor_json(machine) -> tuple[int, dict[str, dict]]:
    code, output = doctor(machine, "--json")
    report = json.loads(output)
    assert report["ok"] == (code == 0)
    return code, {check["name"]: check for check in report["checks"]}


def failing(checks: dict[str, dict]) -> list[str]:
    return [name for name, check in checks.items() if check["status"] == "fail"]


def test_a_ready_machine_passes_with_one_line_per_check(machine):
    code, output = doctor(machine)
    assert code == 0, output
    lines = output.splitlines()
    for name in ("python", "cuda", "asr.model", "recordings", "warehouse", "disk", "prefect"):
        [line] = [line for line in lines if line.split()[1:2] == [name]]
        assert line.startswith(("✓", "!")), line
    assert "faster-whisper" in output and "0 failure(s)" in lines[-1]
    code, checks = doctor_json(machine)
    assert code == 0 and failing(checks) == []
    assert checks["warehouse"]["detail"].endswith("read and write")
    assert not list(machine["warehouse"].iterdir()), "the probe files are gone"


def test_an_empty_model_folder_fails_its_line(machine, tmp_path, monkeypatch):
    empty = tmp_path / "whisper-large-v3"
    empty.mkdir()
    monkeypatch.setenv("CALLSCOPE_ASR__MODEL", str(empty))
    code, output = doctor(machine)
    assert code == 1
    [line] = [line for line in output.splitlines() if line.startswith("✗")]
    assert line.split()[1] == "asr.model" and "no model.bin" in line and str(empty) in line


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root writes into a read-only folder: chmod does not bind, so this cannot fail here",
)
def test_a_read_only_warehouse_fails(machine):
    machine["warehouse"].chmod(0o555)
    try:
        code, checks = doctor_json(machine)
    finally:
        machine["warehouse"].chmod(0o755)
    assert code == 1 and "warehouse" in failing(checks)
    assert "cannot write" in checks["warehouse"]["detail"]


def test_a_warehouse_on_a_read_only_mount_fails(machine):
    """The warehouse bind-mounted read-only in a mount namespace of the doctor's own, so the
    check fails for root too (the NAS share mounted ro is the real case)."""
    import shutil
    import subprocess
    import sys

    warehouse = str(machine["warehouse"])
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) here to mount a folder read-only")
    probe = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "true"], capture_output=True, check=False
    )
    if probe.returncode:
        pytest.skip(f"mount namespaces are not allowed here: {probe.stderr.decode().strip()}")
    command = [sys.executable, "-m", "callscope.cli", "doctor", "--json",
               "--recordings", str(machine["recordings"]), "--warehouse", warehouse]  # fmt: skip
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", warehouse, *command],
        capture_output=True,
        text=True,
        check=False,
    )
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    # the index's default folder is inside the warehouse: it cannot be written either
    assert done.returncode == 1, done.stdout
    assert set(failing(checks)) <= {"warehouse", "search index"} and "warehouse" in failing(checks)
    assert "cannot write" in checks["warehouse"]["detail"]
    assert checks["clock"]["status"] == "ok"


def test_an_unreachable_prefect_server_fails(machine, monkeypatch):
    with socket.socket() as probe:  # a loopback port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    code, checks = doctor_json(machine)
    assert code == 1 and failing(checks) == ["prefect"]
    assert f"{url}/health" in checks["prefect"]["detail"]


def test_the_session_secret_must_be_long_once_web_users_exist(machine, tmp_path, monkeypatch):
    from callscope.web.auth import USERS_FILE, UserStore

    code, checks = doctor_json(machine)
    assert code == 0 and "no web users" in checks["session secret"]["detail"]
    UserStore(machine["warehouse"] / "web" / USERS_FILE).add("alice", "supervisor", "pw-123456")
    code, checks = doctor_json(machine)
    assert code == 1 and failing(checks) == ["session secret"]
    assert "1 web user(s)" in checks["session secret"]["detail"]

    monkeypatch.setenv("CALLSCOPE_SECRET_KEY", "k" * 31)
    code, output = doctor(machine)
    assert code == 1
    [line] = [line for line in output.splitlines() if line.startswith("✗")]
    assert "session secret" in line and "too short (31 characters)" in line

    monkeypatch.delenv("CALLSCOPE_SECRET_KEY")
    secret = tmp_path / "callscope_secret_key"
    secret.write_text("k" * 48 + "\n")
    monkeypatch.setenv("CALLSCOPE_SECRET_KEY_FILE", str(secret))
    code, checks = doctor_json(machine)
    assert code == 0 and checks["session secret"]["detail"] == f"from {secret}: 48 characters"


def test_cuda_without_a_gpu_fails_naming_the_settings(machine, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check passes here")
    monkeypatch.setenv("CALLSCOPE_ASR__DEVICE", "cuda")
    code, checks = doctor_json(machine)
    assert code == 1 and failing(checks) == ["cuda"]
    assert checks["cuda"]["detail"].startswith("asr.device set to cuda but no CUDA GPU")


def test_a_warehouse_uri_skips_the_folder_checks(machine, monkeypatch):
    monkeypatch.setenv("CALLSCOPE_SEARCH__INDEX", str(machine["warehouse"].parent / "index"))
    machine = {**machine, "warehouse": "gs://bucket/warehouse"}
    code, checks = doctor_json(machine)
    assert checks["warehouse"]["status"] == "ok" and "skipped" in checks["warehouse"]["detail"]
    assert checks["disk"]["status"] == "ok" and "skipped" in checks["disk"]["detail"]
    assert code == 0


def test_a_config_without_its_rule_categories_beside_it_fails(machine, tmp_path):
    from callscope.core.config import DEFAULT_CONFIG

    config = tmp_path / "etc" / "config.yaml"  # copied alone, as onto a server's /etc
    config.parent.mkdir()
    config.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    code, output = doctor(machine, "--config", str(config))
    assert code == 1
    [line] = [line for line in output.splitlines() if line.startswith("✗")]
    assert line.split()[1] == "keywords.rules" and str(config.parent / "categories.yaml") in line
