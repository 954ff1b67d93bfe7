"""The stage contract.

A stage is a module under `vidcli.stages` that defines:

- `VERSION`: int, bumped when the stage's output changes meaning;
- `INPUTS`: tuple of port names it reads (a source such as "video", or an upstream stage such as "frames");
- `Config`: a dataclass whose fields are declared with `vidcli.settings.setting()`; defaults are the preset;
- `run(config, inputs, out_dir) -> RunInfo | None`: a plain function that writes files into `out_dir`;
  it trusts its config, which the plan checked and resolved (`planned_config`).

and may define:

- `OPTIONAL_INPUTS`: ports read where the pipeline has a source or stage to bind them to (absent from
  `inputs` otherwise), e.g. the masks stage's keypoints;
- `COMPONENT`: the backend component (`vidcli.backends`) whose `backend` setting the config carries;
- `resolve_config(config) -> config`: automatic choices made concrete at plan time (never checks).

A run holds one GPU (a Luigi resource) where its resolved config has `device` "cuda".

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

from vidcli import backends, settings
from vidcli.errors import ConfigError, with_prefix


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


def planned_config(module: types.ModuleType, values: dict[str, Any], where: str | None = None,
                   text: dict[str, str] | None = None):
    """The config a plan runs a stage with: built from `values` (and command-line `text`), checked, and
    its automatic choices made concrete (see `resolve`)."""
    return resolve(module, settings.build(module.Config, values, where or module.__name__.rsplit(".", 1)[-1],
                                          text))


def resolve(module: types.ModuleType, config):
    """Make a checked config's automatic choices concrete: the `backend` of a stage with a `COMPONENT`
    from the backend table, then whatever the stage's own `resolve_config` decides (a device, say)."""
    stage = module.__name__.rsplit(".", 1)[-1]
    own = getattr(module, "resolve_config", lambda c: c)
    component = getattr(module, "COMPONENT", None)
    chosen_by_auto = bool(component) and config.backend == "auto"
    if component:
        own_checkpoint = bool(getattr(config, "checkpoint", ""))
        backend = backends.resolve(component, config.backend, own_checkpoint)[0]
        config = dataclasses.replace(config, backend=backend)
    try:
        return own(config)
    except ConfigError as exc:
        if chosen_by_auto and backends.get(component, config.backend).kind == backends.FULL:
            from vidcli.console import log

            log.info("%s: auto keeps the embedded backend: %s does not fit the settings (%s)", stage,
                     config.backend, exc)
            return resolve(module, dataclasses.replace(config, backend=backends.embedded_name(component)))
        raise ConfigError(with_prefix(stage, str(exc))) from None


def resources(config) -> dict[str, int]:
    """The Luigi resources a run holds: the GPU its resolved device names, so that runs on one GPU queue."""
    return {"gpu": 1} if getattr(config, "device", None) == "cuda" else {}


def config_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)
