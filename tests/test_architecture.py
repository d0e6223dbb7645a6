"""The package picture (docs/architecture.md): no import cycles between the repository's
packages, each package importing only the layers below it, the per-call step order written
only in the step graph, and a per-call step added with one registration.

The import graph is read from the source (AST), not by importing it. A package depends on
another when one of its modules
- imports it, at the top of the module or inside a function: a lazy import is still a
  dependency, it only moves the moment the other package is loaded. Counting them leaves no
  lazy wiring impossible: where a lower package needs something of a higher one at run time,
  the higher one passes it in (a function, a command line);
- names one of its modules as a string (`"callscope.cli"`, `"callscope.configs"`): a module
  run with `python -m`, or package data found by module name, needs that package as much as
  an import does.
`callscope.X...` is the folder X mapped in pyproject.toml (`[tool.setuptools.package-dir]`);
`callscope.cli...`, `callscope.logs` and bare `callscope` are the CLI folder, callscope/.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import subprocess
import tomllib
from collections import deque
from functools import cache
from pathlib import Path

import pytest
from callscope.pipeline.runner import CallRunner
from callscope.pipeline.steps import (
    BATCH_STEPS,
    CALL_STEPS,
    STEPS,
    CallStep,
    CallWork,
    call_settings_hash,
)
from callscope.storage.recordings import LocalRecordingSource
from callscope.storage.warehouse import Warehouse

from tests.conftest import make_day

REPO = Path(__file__).resolve().parent.parent
CLI = "callscope"
MODULE_NAME = re.compile(r"callscope(\.\w+)+")

# the layers, bottom up: what each package may depend on (docs/architecture.md)
FOUNDATIONS = {"configs", "core", "storage"}
STAGES = {"privacy", "asr", "emotion", "keywords", "incidents"}
ALLOWED: dict[str, set[str]] = {
    "configs": set(),  # the embedded YAML files, found by module name
    "core": {"configs"},
    "storage": {"core"},
    # redaction is the stage the others reuse: search snippets and the hand-off are redacted
    "privacy": {"core", "storage"},
    "asr": FOUNDATIONS,
    "emotion": FOUNDATIONS,
    "keywords": FOUNDATIONS | {"privacy"},
    "incidents": FOUNDATIONS | {"privacy"},
    "synth": FOUNDATIONS,  # the demo generator and demo day: recordings, not the night
    "pipeline": FOUNDATIONS | STAGES,  # the night, free of any orchestrator
    # running it on a machine: the doctor's checks, the night's and workers' metrics
    "ops": FOUNDATIONS | STAGES | {"pipeline"},
    "flows": FOUNDATIONS | STAGES | {"pipeline", "ops"},  # Prefect's wrappers around the pipeline
    "web": FOUNDATIONS | STAGES | {"pipeline"},  # the console, beside flows
    CLI: FOUNDATIONS
    | STAGES
    | {"pipeline", "flows", "web", "synth", "ops"},  # puts it all together
}


# the import graph ------------------------------------------------------------------------------
@cache
def packages() -> dict[str, Path]:
    """Package (its folder's name, the CLI's `callscope`) -> folder, from pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = project["tool"]["setuptools"]["package-dir"]
    return {name.rpartition(".")[2]: REPO / folder for name, folder in mapping.items()}


def package_of(module: str) -> str | None:
    """The repository package a module name lives in; None for a third-party module."""
    parts = module.split(".")
    if parts[0] != "callscope":
        return None
    if len(parts) > 1 and parts[1] in packages() and parts[1] != CLI:
        return parts[1]
    return CLI


def _module_name(package: str, path: Path) -> list[str]:
    parts = list(path.relative_to(packages()[package]).with_suffix("").parts)
    head = ["callscope"] if package == CLI else ["callscope", package]
    return head + parts


def _dependencies(package: str, path: Path):
    """(module name, line) for every import, lazy ones too, and every module named as a string."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _module_name(package, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package upwards
                drop = node.level if here[-1] != "__init__" else node.level - 1
                base = ".".join(here[: len(here) - drop] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:  # `from callscope import web` names a package
                yield f"{base}.{alias.name}", node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if MODULE_NAME.fullmatch(node.value):
                yield node.value, node.lineno


@cache
def import_graph() -> dict[str, dict[str, list[str]]]:
    """package -> {package it depends on: ["path:line", ...]}, between repository packages."""
    graph: dict[str, dict[str, list[str]]] = {package: {} for package in packages()}
    for package, folder in packages().items():
        for path in sorted(folder.rglob("*.py")):
            for module, line in _dependencies(package, path):
                target = package_of(module)
                if target is not None and target != package:
                    where = f"{path.relative_to(REPO)}:{line}"
                    graph[package].setdefault(target, []).append(where)
    for targets in graph.values():
        for places in targets.values():
            places.sort(key=lambda place: (place.split(":")[0], int(place.split(":")[1])))
    return graph


def strongly_connected(graph: dict[str, set[str]] | dict[str, dict]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def a_cycle(graph, component: list[str]) -> list[str]:
    """One shortest cycle through the component's first package: [a, b, ..., a]."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt in members and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def _evidence(graph, source: str, target: str, most: int = 4) -> str:
    places = graph[source][target]
    more = f", +{len(places) - most} more" if len(places) > most else ""
    return f"{source} -> {target} ({', '.join(places[:most])}{more})"


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_imports_and_modules_named_as_strings():
    graph = import_graph()
    assert set(graph) == set(ALLOWED), "every mapped package needs its place in ALLOWED"
    assert "flows" in graph[CLI]  # only ever imported inside the commands' functions
    assert "configs" in graph["core"]  # importlib.resources.files("callscope.configs")


def test_no_import_cycles_between_packages():
    graph = import_graph()
    problems = []
    for component in strongly_connected(graph):
        cycle = a_cycle(graph, component)
        edges = "; ".join(_evidence(graph, a, b) for a, b in zip(cycle, cycle[1:], strict=False))
        problems.append(f"cycle {' -> '.join(cycle)}: {edges}")
    assert not problems, "\n".join(problems)


def test_each_package_depends_only_on_the_layers_below_it():
    graph = import_graph()
    assert not strongly_connected(ALLOWED), "the intended layers form a cycle"
    wrong = [
        _evidence(graph, package, target)
        for package, targets in sorted(graph.items())
        for target in sorted(targets)
        if target not in ALLOWED[package]
    ]
    assert not wrong, "imports across the layers:\n" + "\n".join(wrong)


def test_only_flows_imports_the_orchestrator():
    users = set()
    for package, folder in packages().items():
        for path in folder.rglob("*.py"):
            if any(module.split(".")[0] == "prefect" for module, _ in _dependencies(package, path)):
                users.add(package)
    assert users == {"flows"}


# the per-call step order: written only in the graph --------------------------------------------
# the stage functions that are per-call (or per-batch) steps, and the package that defines each
CALL_STEP_CALLS = {
    "transcribe_call": "asr",
    "attribute_speakers": "asr",
    "redact_segments": "privacy",
    "score_voice": "emotion",
    "categorize_calls": "keywords",
    "embed_statements": "incidents",
}


def test_the_per_call_step_order_is_written_only_in_the_graph():
    """No product module but pipeline/steps.py calls a per-call step's stage function (the
    stage's own package may use its function; tests and benches, which measure one stage
    alone, are not the product). The runner runs the steps it is given, in their order."""
    pattern = r"\b(" + "|".join(CALL_STEP_CALLS) + r")\("
    found = subprocess.run(
        ["git", "grep", "--untracked", "-E", pattern, "--", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    callers: dict[str, set[str]] = {}
    for line in found.stdout.splitlines():
        path, _, code = line.partition(":")
        if path.startswith(("tests/", "bench/")) or code.lstrip().startswith("def "):
            continue
        for name in re.findall(pattern, code):
            if path.split("/")[0] != CALL_STEP_CALLS[name]:
                callers.setdefault(path, set()).add(name)
    assert set(callers) == {"pipeline/steps.py"}, callers
    assert callers["pipeline/steps.py"] == set(CALL_STEP_CALLS)


def test_every_step_is_in_the_architecture_page():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    names = [step.name for step in (*CALL_STEPS, *BATCH_STEPS, *STEPS)]
    missing = [name for name in names if f"`{name}`" not in page]
    assert not missing, f"docs/architecture.md does not name the steps {missing}"


def test_every_path_the_architecture_page_names_exists():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = {
        path.split(":")[0]
        for path in re.findall(r"`([\w./-]+)`", page)
        if "/" in path and not path.startswith(("callscope.", "<")) and "://" not in path
    }
    assert named, "the page names no paths"
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


# a per-call step added with one registration ---------------------------------------------------
DAY = dt.date(2026, 11, 20)


def _upper_case(call: CallWork) -> None:
    """The example step: every segment's text in capitals (Latin letters; Han has no case)."""
    for segment in call.segments:
        segment["text"] = segment["text"].upper()


UPPER_CASE = CallStep("upper_case", "upper-1", lambda settings: None, _upper_case, on="cpu")


def test_a_per_call_step_is_added_with_one_registration(settings, mono_en):
    """Files touched to add a per-call step = the step's own module + one registration.

    The step is a function of the call's work (here `_upper_case`, standing for its module)
    and one `CallStep` in the steps the runner is given: in the product, one line in
    `CALL_STEPS` (pipeline/steps.py); here, passed to the runner as
    `steps=(*CALL_STEPS[:at], UPPER_CASE, *CALL_STEPS[at:])`, before redaction (a step at the
    end is `(*CALL_STEPS, step)`). Nothing else changes: the runner runs it in the CPU pool
    (`on="cpu"`), its version enters every call's key, and a call done with it is skipped the
    next night."""
    at = [step.name for step in CALL_STEPS].index("redact")
    steps = (*CALL_STEPS[:at], UPPER_CASE, *CALL_STEPS[at:])
    make_day(settings.recordings, DAY.isoformat(), {"mono-a.wav": mono_en})
    source = LocalRecordingSource(settings.recordings, settings.source.extensions)
    store = Warehouse(settings.warehouse)
    runner = CallRunner(settings, source, store, steps=steps)

    [outcome] = runner.run(source.list_day(DAY), store.done_calls(DAY))
    assert outcome.status == "ok", outcome.error
    assert "upper_case" in runner.busy.steps_s  # it ran, in the runner
    store.commit_day(DAY)
    segments = store.read("segments", DAY).to_pylist()
    assert segments and any(re.search("[A-Z]", s["text"]) for s in segments)
    for segment in segments:  # stored as the step left it, and redaction ran after it
        assert segment["text"] == segment["text"].upper()
        assert segment["text_redacted"] == segment["text_redacted"].upper()

    [row] = store.read("calls", DAY).to_pylist()
    assert row["settings_hash"] == call_settings_hash(settings, steps)
    assert row["settings_hash"] != call_settings_hash(settings)  # the step is in the key
    assert CallRunner(settings, source, store).settings_hash != row["settings_hash"]

    [again] = runner.run(source.list_day(DAY), store.done_calls(DAY))
    assert again.status == "skipped"  # done with these steps: keyed by the hash


def test_the_staged_tables_are_the_calls_and_the_batch_steps_tables():
    """The warehouse stages the calls, their segments and what each batch step writes: a batch
    step added to the graph must be a table the commit merges."""
    from callscope.storage.warehouse import STAGED_TABLES

    written = [step.writes for step in BATCH_STEPS if step.writes is not None]
    assert STAGED_TABLES == ("calls", "segments", *written)


def _segments_by_call(store: Warehouse) -> dict[str, list[tuple]]:
    store.commit_day(DAY)
    found: dict[str, list[tuple]] = {}
    for s in store.read("segments", DAY).to_pylist():
        found.setdefault(s["call_id"], []).append((s["idx"], s["speaker"], s["text"]))
    return {call: sorted(rows) for call, rows in found.items()}


def _alone_and_together(settings, tmp_path, mono_en, stereo_call) -> None:
    """A call's segments are the same decoded alone and decoded in a run with other calls,
    with two recognisers at once: batches hold one call's windows, never another call's."""
    files = {"mono-a.wav": mono_en, "stereo-b.flac": stereo_call}
    make_day(settings.recordings, DAY.isoformat(), files)
    source = LocalRecordingSource(settings.recordings, settings.source.extensions)
    together = Warehouse(tmp_path / "together")
    two = settings.model_copy(update={"flow": settings.flow.model_copy(update={"concurrency": 2})})
    outcomes = CallRunner(two, source, together).run(source.list_day(DAY), {})
    assert [o.status for o in outcomes] == ["ok", "ok"]
    alone = {}
    for rec in source.list_day(DAY):
        store = Warehouse(tmp_path / f"alone-{rec.call_id}")
        assert CallRunner(settings, source, store).process(rec).status == "ok"
        alone |= _segments_by_call(store)
    assert _segments_by_call(together) == alone


def test_a_calls_text_does_not_depend_on_the_calls_beside_it(
    settings, tmp_path, mono_en, stereo_call
):
    _alone_and_together(settings, tmp_path, mono_en, stereo_call)


@pytest.mark.gpu
def test_on_a_gpu_a_calls_text_does_not_depend_on_the_calls_beside_it(
    settings, tmp_path, mono_en, stereo_call
):
    on_gpu = settings.model_copy(
        update={
            "asr": settings.asr.model_copy(update={"device": "cuda", "compute_type": "float16"})
        }
    )
    _alone_and_together(on_gpu, tmp_path, mono_en, stereo_call)


def test_the_cli_runs_as_a_module_with_every_command():
    """Workers and the night's subprocesses start `python -m callscope.cli`: every command
    module registers on the one CLI whichever way it starts."""
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "callscope.cli", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for command in ("nightly", "worker", "catalogue", "search", "serve", "incidents", "redact"):
        assert command in done.stdout, command
