"""The stage contract.

A stage is a module under `vidcli.stages` that defines:

- `VERSION`: int, bumped when the stage's output changes meaning;
- `INPUTS`: tuple of port names it reads (a source such as "video", or an upstream stage such as "frames");
- `Config`: a dataclass whose fields are declared with `setting()`; defaults are the preset;
- `run(config, inputs, out_dir) -> RunInfo | None`: a plain function that writes files into `out_dir`.

`inputs` maps each port to a `Source` (an input file) or an `Artifact` (a finished upstream stage).
Heavy imports (torch, mediapipe) belong inside `run`, so that planning stays fast and CUDA is
never initialised in the parent process.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidcli.errors import ConfigError


def setting(default: Any, doc: str, significant: bool = True):
    """A documented config field; `significant=False` marks fields that do not change the result."""
    return field(default=default, metadata={"doc": doc, "significant": significant})


def is_significant(f: dataclasses.Field) -> bool:
    return f.metadata.get("significant", True)


@dataclass
class RunInfo:
    """What a stage reports for its manifest."""

    backend: str = "embedded"
    model: str | None = None
    checksum: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """An input file of the pipeline, identified by its content hash."""

    path: Path
    content_hash: str


@dataclass(frozen=True)
class Artifact:
    """A finished stage output directory."""

    path: Path

    @property
    def manifest(self) -> dict:
        return json.loads((self.path / "manifest.json").read_text())

    @property
    def key(self) -> str:
        return self.path.name


def load_stage(name: str) -> types.ModuleType:
    """Import the stage module `vidcli.stages.<name>` and check that it follows the contract."""
    if not name.isidentifier():
        raise ConfigError(f"unknown stage {name!r}")
    try:
        module = importlib.import_module(f"vidcli.stages.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"vidcli.stages.{name}":
            raise ConfigError(f"unknown stage {name!r}") from None
        raise
    for attr in ("VERSION", "INPUTS", "Config", "run"):
        if not hasattr(module, attr):
            raise ConfigError(f"stage module {module.__name__} lacks {attr}")
    return module


def make_config(module: types.ModuleType, overrides: dict[str, Any], where: str):
    """Build a stage Config from overrides, checking names and types; `where` names the source."""
    fields = {f.name: f for f in dataclasses.fields(module.Config)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}; known: {', '.join(fields)}")
    base = module.Config()
    values = {}
    for name, value in overrides.items():
        expected = type(getattr(base, name))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if getattr(base, name) is not None and not isinstance(value, expected):
            raise ConfigError(
                f"{where}: setting {name!r} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        values[name] = value
    return dataclasses.replace(base, **values)


def significant_config(config) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if is_significant(f)}


def config_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)
