"""Pipeline definitions: which stages, how their input ports are bound, and their preset configs.

A pipeline file (built-in ones live in `vidcli/workflows/*.yaml`) looks like:

    description: Optical flow of a video, rendered beside its frames.
    sources: [video]            # the input files one pipeline run takes
    folders: []                 # sources that may be folders (a data set), identified by their files
    stages:
      frames: {}                # ports bind to the source or stage of the same name by default
      flow: {config: {max_size: 512}}
      flow_video: {inputs: {frames: frames, flow: flow}}
"""

from __future__ import annotations

import graphlib
import re
import types
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vidcli import settings
from vidcli.engine.stage import load_stage
from vidcli.errors import ConfigError


@dataclass
class StageSpec:
    name: str
    module: types.ModuleType
    inputs: dict[str, str]  # port -> source or stage name
    config: Any  # the stage's Config instance (preset plus overrides)


@dataclass
class Pipeline:
    name: str
    description: str
    sources: list[str]
    stages: dict[str, StageSpec] = field(default_factory=dict)  # in dependency order
    folders: tuple[str, ...] = ()  # the sources that may be folders rather than files

    def upstream_stages(self, stage: str) -> list[str]:
        return [n for n in self.stages[stage].inputs.values() if n in self.stages]

    def downstream_closure(self, stages: set[str]) -> set[str]:
        """The given stages and every stage that depends on them, directly or not."""
        closure = set(stages)
        for name in self.stages:  # dependency order: upstream entries are settled first
            if closure.intersection(self.upstream_stages(name)):
                closure.add(name)
        return closure

    @property
    def final_stages(self) -> list[str]:
        """The stages no other stage needs: one read only through an optional port (the keypoints that the
        masks take as prompts) is still what the run is for."""
        used = {target for spec in self.stages.values() for port, target in spec.inputs.items()
                if target in self.stages and port not in getattr(spec.module, "OPTIONAL_INPUTS", ())}
        return [name for name in self.stages if name not in used]


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers in exponent form ("1e3", "2.5E-4") as floats the way YAML 1.2
    does; YAML 1.1, which PyYAML follows, makes them strings unless they have a dot and a sign."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_yaml(text: str) -> Any:
    """A YAML document's data, read safely (no Python tags) with YAML 1.2 numbers."""
    return yaml.load(text, Loader=YamlLoader)


def builtin_pipelines() -> dict[str, str]:
    """Names and descriptions of the pipelines shipped in vidcli/workflows."""
    found = {}
    for entry in sorted(resources.files("vidcli.workflows").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            found[entry.name[:-5]] = read_yaml(entry.read_text()).get("description", "")
    return found


def load_pipeline(name_or_path: str, overrides: dict[str, dict] | None = None,
                  assignments: list[str] = ()) -> Pipeline:
    """Load a built-in pipeline by name, or a pipeline file by path, applying per-stage overrides (typed
    values) and then `--set` assignments ("STAGE.FIELD=VALUE" texts, parsed by the field's type)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"pipeline file {path} not found")
        text, name = path.read_text(), path.stem
    else:
        entry = resources.files("vidcli.workflows") / f"{name_or_path}.yaml"
        if name_or_path not in builtin_pipelines():
            raise ConfigError(
                f"unknown pipeline {name_or_path!r}; built-in: {', '.join(builtin_pipelines())}"
            )
        text, name = entry.read_text(), name_or_path
    try:
        data = read_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"pipeline {name}: malformed YAML: {yaml_problem(exc)}") from None
    return _build(name, data, overrides or {}, assignments)


def _build(name: str, data: Any, overrides: dict[str, dict], assignments: list[str]) -> Pipeline:
    where = f"pipeline {name}"
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict) or not data["stages"]:
        raise ConfigError(f"{where}: needs a 'stages' mapping")
    sources = data.get("sources", ["video"])
    unknown = set(overrides) - set(data["stages"])
    if unknown:
        raise ConfigError(f"{where} has no stage {sorted(unknown)[0]!r}; stages: {', '.join(data['stages'])}")
    texts = _parse_assignments(assignments, where, data["stages"])
    specs: dict[str, StageSpec] = {}
    for stage_name, entry in data["stages"].items():
        entry = entry or {}
        module = load_stage(stage_name)
        binding = {port: entry.get("inputs", {}).get(port, port) for port in module.INPUTS}
        for port in getattr(module, "OPTIONAL_INPUTS", ()):
            target = entry.get("inputs", {}).get(port, port)
            if target in sources or target in data["stages"]:
                binding[port] = target
        for port, target in binding.items():
            if target not in sources and target not in data["stages"]:
                raise ConfigError(f"{where}: stage {stage_name!r} input {port!r} is bound to unknown {target!r}")
        values = {**(entry.get("config") or {}), **overrides.get(stage_name, {})}
        config = settings.build(module.Config, values, stage_name, texts.get(stage_name))
        specs[stage_name] = StageSpec(stage_name, module, binding, config)
    graph = {n: [t for t in s.inputs.values() if t in specs] for n, s in specs.items()}
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise ConfigError(f"{where}: stages depend on each other in a cycle: {exc.args[1]}") from None
    folders = tuple(data.get("folders", ()))
    if set(folders) - set(sources):
        raise ConfigError(f"{where}: folders {sorted(set(folders) - set(sources))} are not among its sources")
    return Pipeline(name, data.get("description", ""), list(sources), {n: specs[n] for n in order}, folders)


def _parse_assignments(assignments: list[str], where: str, stages) -> dict[str, dict[str, str]]:
    """{stage: {field: text}} of "STAGE.FIELD=VALUE" assignments (`--set`)."""
    texts: dict[str, dict[str, str]] = {}
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        stage, dot, name = target.strip().partition(".")
        if not (equals and dot and stage and name):
            raise ConfigError(f"--set {assignment!r}: write STAGE.FIELD=VALUE, e.g. world.smooth=0.5")
        if stage not in stages:
            raise ConfigError(f"--set {assignment!r}: {where} has no stage {stage!r}; "
                              f"stages: {', '.join(stages)}")
        texts.setdefault(stage, {})[name.strip()] = text.strip()
    return texts


def yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem
