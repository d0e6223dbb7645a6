"""The wheel ships every package the night imports, with its data, and runs outside the repo;
Dockerfile.gpu installs that wheel's contents from the whole (filtered) project."""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from functools import cache
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parent.parent
NIGHT_MODULES = (
    "callscope.flows.nightly",
    "callscope.pipeline.night",
    "callscope.cli",
    "callscope.web.app",
)
PACKAGE_DATA = (
    "configs/default.yaml",
    "configs/gpu.yaml",
    "configs/categories.yaml",
    "emotion/data/*.tsv",
    "web/templates/*.html",
    "web/static/*",
)
BUILD_FILES = ("pyproject.toml", "constraints.txt", "README.md")
DOCKERFILE = REPO / "Dockerfile.gpu"
DOCKERIGNORE = REPO / ".dockerignore"

# Prints the repo-relative files of the modules imported by the modules named in argv,
# leaving out installed third-party code (the virtualenv may live inside the repo).
LOADED_FROM_REPO = """
import importlib, json, sys
from pathlib import Path

for name in sys.argv[1:]:
    importlib.import_module(name)
root = Path.cwd().resolve()
installed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
files = set()
for module in list(sys.modules.values()):
    path = Path(getattr(module, "__file__", None) or "/").resolve()
    if not path.is_relative_to(root) or "site-packages" in path.parts:
        continue
    if not any(path.is_relative_to(prefix) for prefix in installed):
        files.add(path.relative_to(root).as_posix())
print(json.dumps(sorted(files)))
"""

# Loads both shipped configs and the night; prints where each project module came from.
RUN_INSTALLED = """
import json, sys
import callscope.pipeline.night
from callscope.core.config import CONFIG_DIR, load_config

settings = load_config()
assert settings.keywords.rules.is_file(), settings.keywords.rules
gpu = load_config(CONFIG_DIR / "gpu.yaml")
assert gpu.asr.device == "cuda", gpu.asr.device
assert gpu.keywords.rules.is_file(), gpu.keywords.rules
packages = set(sys.argv[1:])
files = {
    name: module.__file__
    for name, module in list(sys.modules.items())
    if name.partition(".")[0] in packages and getattr(module, "__file__", None)
}
print(json.dumps({"config_dir": str(CONFIG_DIR), "modules": files}))
"""


def run(*args: str | Path, cwd: Path, **env: str) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    command = " ".join(str(arg) for arg in args)[:160]
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """No CALLSCOPE_* overrides, no bytecode written into the checkout, no index access."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLSCOPE_")}
    env.pop("PYTHONPATH", None)
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "PIP_NO_INDEX": "1"}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}
    return env


@cache
def repo_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files that exist: what a build of the checkout sees."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


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


def install_wheel(wheel: Path, site: Path) -> Path:
    pip = (sys.executable, "-m", "pip")
    run(*pip, "install", "--no-deps", "--no-compile", "--target", site, wheel, cwd=wheel.parent)
    return site


def top_level(files: list[str]) -> set[str]:
    """Top-level packages (and single-file modules, as NAME.py) owning these files."""
    return {name.split("/")[0] if "/" in name else name for name in files}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = copy_repo(tmp_path_factory.mktemp("source"))
    return build_wheel(source, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def night_files() -> list[str]:
    files = json.loads(run(sys.executable, "-c", LOADED_FROM_REPO, *NIGHT_MODULES, cwd=REPO))
    return [name for name in files if name.split("/")[0] != "tests"]


def test_wheel_has_every_package_the_night_imports(wheel: Path, night_files: list[str]) -> None:
    owners = top_level(night_files)
    assert {"callscope", "core", "configs", "flows", "web"} <= owners, owners
    packages = {name for name in owners if not name.endswith(".py")}
    expected = {f"{package}/__init__.py" for package in packages} | (owners - packages)
    expected |= {
        name for name in repo_files() if name.endswith(".py") and name.split("/")[0] in packages
    }
    missing = sorted(expected - wheel_names(wheel))
    assert not missing, f"the night imports these but the wheel lacks them: {missing}"


def test_wheel_has_package_data(wheel: Path) -> None:
    names = wheel_names(wheel)
    for pattern in PACKAGE_DATA:
        in_repo = {name for name in repo_files() if fnmatch.fnmatchcase(name, pattern)}
        assert in_repo, f"nothing in the repo matches {pattern}"
        assert in_repo <= names, f"the wheel lacks {sorted(in_repo - names)}"


def test_installed_wheel_runs_outside_the_repo(wheel: Path, night_files, tmp_path: Path) -> None:
    site = install_wheel(wheel, tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    packages = sorted(top_level(night_files))
    # The editable install's finder is appended to sys.meta_path, after the path finder, so
    # PYTHONPATH entries win; the module paths are asserted below in case that ever changes.
    shown = run(sys.executable, "-c", RUN_INSTALLED, *packages, cwd=elsewhere, PYTHONPATH=str(site))
    report = json.loads(shown)
    assert Path(report["config_dir"]).is_relative_to(site), report["config_dir"]
    modules = report["modules"]
    assert {"core", "callscope.pipeline.night"} <= modules.keys(), sorted(modules)
    outside = {name: file for name, file in modules.items() if not Path(file).is_relative_to(site)}
    assert not outside, f"imported from outside the installed wheel: {outside}"


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


def project_packages() -> set[str]:
    """Top-level package folders that pyproject's package discovery includes."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    folders = {name.split("/")[0] for name in repo_files() if name.count("/") == 1}
    return {
        folder
        for folder in folders
        if (REPO / folder / "__init__.py").is_file()
        and any(fnmatch.fnmatchcase(folder, pattern) for pattern in include)
    }


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
    packages = project_packages()
    assert {"callscope", "core", "configs", "web"} <= packages, packages
    needed = [name for name in repo_files() if name.split("/")[0] in packages]
    needed += list(BUILD_FILES)
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
