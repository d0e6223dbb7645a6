"""The production recipes and the secrets they hand over: secrets read from `*_FILE` files
(core/secrets.py) by the console and the shard search, the Compose file (GPU for the night's
day steps, HTTPS through Caddy only, per-host worker names, secrets as files, the index on a
local volume) and the systemd units (every path they name made by the install recipe)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from callscope.core.config import CONFIG_DIR, load_config
from callscope.core.secrets import SecretError, check_secret, read_secret
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
SYSTEMD = DEPLOY / "systemd"
NAME = "CALLSCOPE_TEST_SECRET"


# reading secrets ---------------------------------------------------------------------------------
@pytest.fixture
def no_secrets(monkeypatch):
    for name in (NAME, "CALLSCOPE_SECRET_KEY", "CALLSCOPE_SHARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name + "_FILE", raising=False)
    return monkeypatch


def test_a_secret_is_read_from_the_file_its_FILE_variable_names(no_secrets, tmp_path):
    assert read_secret(NAME) is None
    path = tmp_path / "secret"
    path.write_text("  s3cret-value\n\n")
    no_secrets.setenv(NAME + "_FILE", str(path))
    assert read_secret(NAME) == "s3cret-value"
    no_secrets.delenv(NAME + "_FILE")
    no_secrets.setenv(NAME, "from-the-environment")
    assert read_secret(NAME) == "from-the-environment"


def test_an_unreadable_empty_or_doubled_secret_is_an_error_naming_it(no_secrets, tmp_path):
    missing = tmp_path / "nowhere" / "secret"
    no_secrets.setenv(NAME + "_FILE", str(missing))
    with pytest.raises(SecretError, match=f"{NAME}_FILE names {re.escape(str(missing))}"):
        read_secret(NAME)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    no_secrets.setenv(NAME + "_FILE", str(empty))
    with pytest.raises(SecretError, match=f"{re.escape(str(empty))} .* is empty"):
        read_secret(NAME)
    no_secrets.setenv(NAME, "x" * 40)
    with pytest.raises(SecretError, match=f"both \\${NAME} and \\${NAME}_FILE"):
        read_secret(NAME)


def test_placeholders_are_refused_whatever_their_length_and_short_secrets_too():
    with pytest.raises(SecretError, match="placeholder"):
        check_secret(NAME, "change-me-to-a-long-random-secret-of-many-characters", 32)
    with pytest.raises(SecretError, match="placeholder"):
        check_secret(NAME, "CHANGEME" + "x" * 40, 32)
    with pytest.raises(SecretError, match="too short \\(31 characters\\): use at least 32"):
        check_secret(NAME, "k" * 31, 32)
    assert check_secret(NAME, "k" * 32, 32) == "k" * 32


def test_the_console_takes_its_session_secret_from_a_file_and_refuses_the_example(
    no_secrets, tmp_path
):
    from callscope.web.auth import AuthError, secret_from_env

    assert secret_from_env()[1] is False  # unset: a random one for this process
    path = tmp_path / "callscope_secret_key"
    path.write_text("k" * 48 + "\n")
    no_secrets.setenv("CALLSCOPE_SECRET_KEY_FILE", str(path))
    assert secret_from_env() == (b"k" * 48, True)
    path.write_text("k" * 20)
    with pytest.raises(AuthError, match="at least 32"):
        secret_from_env()
    no_secrets.delenv("CALLSCOPE_SECRET_KEY_FILE")
    no_secrets.setenv("CALLSCOPE_SECRET_KEY", "change-me-to-a-long-random-secret")
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    from callscope.cli import app

    result = CliRunner().invoke(app, ["serve", "--warehouse", str(warehouse), "--port", "1"])
    assert result.exit_code == 2 and "placeholder" in result.stderr


def test_the_shard_token_is_read_from_its_file(no_secrets, tmp_path):
    from callscope.keywords.remote import token_from_env
    from callscope.keywords.shard import SearchIndexError

    assert token_from_env() is None
    path = tmp_path / "callscope_shard_token"
    path.write_text("t" * 24 + "\n")
    no_secrets.setenv("CALLSCOPE_SHARD_TOKEN_FILE", str(path))
    assert token_from_env() == "t" * 24
    path.write_text("change-me-shard-token-xxxxxxxxxxxx")
    with pytest.raises(SearchIndexError, match="placeholder"):
        token_from_env()


# Docker Compose ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def _reserves_gpu(service: dict) -> bool:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {})
    return any("gpu" in device.get("capabilities", []) for device in devices.get("devices", []))


def _published(service: dict) -> list[tuple[str, str]]:
    """(host port, container port) of each published port."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((str(port.get("published", "")), str(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            out.append((parts[-2] if len(parts) > 1 else "", parts[-1]))
    return out


def test_the_nights_day_steps_have_the_devices_their_settings_name(compose):
    from callscope.ops.doctor import device_settings

    night = compose["services"]["nightly"]
    assert night["entrypoint"][-1] == "--fan-out" and "/app/configs/gpu.yaml" in night["entrypoint"]
    settings = load_config(CONFIG_DIR / "gpu.yaml")
    on_cuda = [name for name, value in device_settings(settings).items() if value == "cuda"]
    assert {"emotion.device", "incidents.device"} <= set(on_cuda)
    environment = night["environment"]
    overridden = all(
        environment.get("CALLSCOPE_" + name.replace(".", "__").upper()) == "cpu"
        for name in on_cuda
        if not name.startswith(("asr.", "diarization."))  # the parts' steps: on the workers
    )
    assert _reserves_gpu(night) or overridden


def test_the_console_is_reached_over_https_through_caddy_only(compose):
    services = compose["services"]
    for name, service in services.items():
        assert all("8080" not in ports for ports in _published(service)), name
    assert "8080" in [str(port) for port in services["web"]["expose"]]
    caddy = services["caddy"]
    assert caddy["image"] == "caddy:2" and ("443", "443") in _published(caddy)
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert "{$CALLSCOPE_SITE_ADDRESS}" in caddyfile and "reverse_proxy web:8080" in caddyfile
    assert re.search(r"@metrics path /metrics\b.*\n\s*respond @metrics 404", caddyfile)
    web = services["web"]["environment"]
    assert web["CALLSCOPE_WEB__SECURE_COOKIES"] == "true"
    assert "CALLSCOPE_SUBNET" in web["CALLSCOPE_WEB__TRUSTED_PROXIES"]


def test_every_hosts_workers_have_names_of_their_own(compose):
    workers = {k: s for k, s in compose["services"].items() if k.startswith("gpu-worker-")}
    names = [s["command"][s["command"].index("--name") + 1] for s in workers.values()]
    assert len(set(names)) == len(names) >= 2
    for name in names:  # a variable without a default: Compose stops while it is unset
        variables = re.findall(r"\$\{(\w+)(:?[-?])?", name)
        assert variables and all(how in (":?", "?") for _, how in variables), name
    assert "WORKER_HOST=" in (DEPLOY / "env.example").read_text(encoding="utf-8")


def test_secrets_are_compose_secrets_read_through_FILE_variables(compose):
    declared = compose["secrets"]
    for name in ("prefect_db_password", "callscope_secret_key", "callscope_shard_token"):
        assert declared[name]["file"].endswith(f"/{name}")
    for service_name, service in compose["services"].items():
        environment = service.get("environment", {})
        mounted = {
            secret if isinstance(secret, str) else secret["source"]
            for secret in service.get("secrets", [])
        }
        for variable, value in environment.items():
            assert not re.search(r"(SECRET_KEY|TOKEN|PASSWORD)$", variable), variable
            if variable.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), (service_name, variable)
                assert value.removeprefix("/run/secrets/") in mounted, (service_name, variable)
    web = compose["services"]["web"]["environment"]
    assert web["CALLSCOPE_SECRET_KEY_FILE"] == "/run/secrets/callscope_secret_key"
    assert web["CALLSCOPE_SHARD_TOKEN_FILE"] == "/run/secrets/callscope_shard_token"
    shard_host = compose["services"]["shard-host"]["environment"]
    assert shard_host["CALLSCOPE_SHARD_TOKEN_FILE"] == "/run/secrets/callscope_shard_token"
    postgres = compose["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/prefect_db_password"
    assert "/run/secrets/prefect_db_password" in " ".join(
        compose["services"]["prefect-server"]["entrypoint"]
    )
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    assigned = re.findall(r"^(\w+)=", example, flags=re.M)
    assert assigned and not [v for v in assigned if re.search("SECRET_KEY$|TOKEN$|PASSWORD$", v)]


def test_the_index_lives_on_a_local_volume_not_the_nas(compose):
    volumes = set(compose["volumes"])
    for name in ("nightly", "web"):
        service = compose["services"][name]
        index = service["environment"]["CALLSCOPE_SEARCH__INDEX"]
        mounts = [mount.split(":") for mount in service["volumes"]]
        source, target = max(
            ((m[0], m[1]) for m in mounts if index == m[1] or index.startswith(m[1] + "/")),
            key=lambda mount: len(mount[1]),
        )
        assert source in volumes, f"{name}: the index is on {source}, not a local volume"
        assert not index.startswith("/data"), index
    shared = {
        mount for name in ("nightly", "web") for mount in compose["services"][name]["volumes"]
    }
    assert len([m for m in shared if m.startswith("search-index:")]) == 1, "one index for both"


def test_the_first_users_and_the_doctor_run_as_one_shot_services(compose):
    users = compose["services"]["users"]
    assert users["profiles"] == ["setup"] and users["entrypoint"] == ["callscope", "users"]
    doctor = compose["services"]["doctor"]
    assert doctor["command"][0] == "doctor" and _reserves_gpu(doctor)


# systemd -----------------------------------------------------------------------------------------
def _units() -> dict[str, list[tuple[str, str]]]:
    """unit file -> its (key, value) lines."""
    units = {}
    for path in sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.timer")):
        lines = path.read_text(encoding="utf-8").splitlines()
        units[path.name] = [
            tuple(line.split("=", 1)) for line in lines if "=" in line and line[:1].isalpha()
        ]
    return units


def _named_paths(key: str, value: str) -> list[str]:
    """The paths a unit setting names that must exist before the unit starts."""
    if key == "LoadCredential":
        return [value.split(":", 1)[1]]
    if key == "StateDirectory":
        return [f"/var/lib/{name}" for name in value.split()]
    if key in ("WorkingDirectory", "EnvironmentFile", "RequiresMountsFor", "ReadWritePaths"):
        return [path for path in value.split() if not path.startswith("-")]  # -: optional
    if key.startswith("Exec"):  # the programs and files it names, a shell's command line too
        return re.findall(r"(?<![\w$])/(?:opt|etc|var|srv)/[^\s'\"]+", value)
    return []


def _script_variables(script: str) -> dict[str, str]:
    """NAME=value and NAME=${NAME:-default} assignments of a shell script."""
    out = {}
    for name, value in re.findall(r"^(\w+)=(.+)$", script, re.M):
        default = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
        out[name] = (default[1] if default else value).strip('"')
    return out


def _commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line (split at |, ||, &&, ;)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("|", "||", "&&", ";"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def _created_by_recipe() -> set[str]:
    """What callscope.tmpfiles.conf and install.sh create: folders, files, the venv's bin/."""
    created = set()
    for line in (SYSTEMD / "callscope.tmpfiles.conf").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "d":
            created.add(fields[1])
    script = (SYSTEMD / "install.sh").read_text(encoding="utf-8").replace("\\\n", " ")
    variables = _script_variables(script)
    loop = re.search(r"for name in \$(\w+); do", script)
    loop_names = variables[loop[1]].split() if loop else []

    def expand(word: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m[1], m[0]), word)

    for line in script.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for words in _commands(line):
            words = [expand(word) for word in words]
            if words[0] == "install" and words[-1].startswith("/"):
                target = words[-1]
                many = [target.replace("$name", name) for name in loop_names]
                created |= set(many) if "$name" in target else {target}
            if words[1:3] == ["-m", "venv"]:
                created.add(words[3] + "/bin")
    return created


def test_every_path_a_unit_names_is_made_by_the_recipe():
    created = _created_by_recipe()
    assert "/opt/callscope/venv/bin" in created and "/etc/callscope/env" in created
    missing = {}
    for unit, settings in _units().items():
        for key, value in settings:
            for path in _named_paths(key, value):
                programs = (c for c in created if c.endswith("/bin"))  # pip's console scripts
                made = path in created or any(path.startswith(f"{c}/") for c in programs)
                if not made:
                    missing.setdefault(unit, []).append(f"{key}: {path}")
    assert not missing, missing


def test_the_units_are_installed_timed_and_read_secrets_as_credentials():
    script = (SYSTEMD / "install.sh").read_text(encoding="utf-8")
    units = _units()
    for unit in units:
        assert unit in script, f"install.sh does not install {unit}"
    timer = dict(units["callscope-night.timer"])
    assert timer["OnCalendar"] == "*-*-* 01:00:00 Asia/Shanghai"
    assert dict(units["callscope-night.service"])["Type"] == "oneshot"
    web = units["callscope-web.service"]
    assert ("Environment", "CALLSCOPE_SECRET_KEY_FILE=%d/callscope_secret_key") in web
    assert (
        "LoadCredential",
        "callscope_secret_key:/etc/callscope/secrets/callscope_secret_key",
    ) in web
    for unit, settings in units.items():
        for _, value in settings:
            secret = re.search(r"(SECRET_KEY|TOKEN|PASSWORD)=(?!%d/|\"\$\$\(cat )", value)
            assert not secret, (unit, value)
    environment = (SYSTEMD / "callscope.env").read_text(encoding="utf-8")
    assert not re.search(r"^\w*(SECRET_KEY|TOKEN|PASSWORD)=", environment, re.M)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """In a root of their own, with the programs they start present (empty scripts)."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "bin").mkdir()
    shutil.copy("/bin/sh", root / "bin/sh")
    programs = root / "opt/callscope/venv/bin"
    programs.mkdir(parents=True)
    for program in ("python", "callscope", "prefect"):
        (programs / program).write_text("#!/bin/sh\n")
        (programs / program).chmod(0o755)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    units = [shutil.copy(path, installed) for path in _units_paths()]
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *units],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result


def _units_paths() -> list[Path]:
    return sorted(SYSTEMD.glob("*.service")) + sorted(SYSTEMD.glob("*.timer"))
