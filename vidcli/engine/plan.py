"""Plans: the artifact graph of a pipeline over its inputs, and why each artifact would run."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidcli import backends
from vidcli.engine.keys import artifact_key, cached_content_hash, folder_content_hash
from vidcli.engine.pipeline import Pipeline
from vidcli.engine.stage import Source, config_dict, resolve, resources
from vidcli.settings import significant_values
from vidcli.engine.store import Workspace, complete_artifacts, input_dir_name, is_complete, read_manifest
from vidcli.errors import ConfigError, InputError

UP_TO_DATE = "up to date"
WOULD_RUN = "would run"


@dataclass
class Node:
    """One artifact to have: a stage applied to one input, with everything that decides its key."""

    input_dir: str
    stage: str
    version: int
    config: dict[str, Any]
    significant: dict[str, Any]
    upstream: dict[str, "Node"]
    sources: dict[str, Source]
    key: str
    force: bool = False
    resources: dict[str, int] = field(default_factory=dict)  # Luigi resources its run holds

    @property
    def rel(self) -> str:
        return f"{self.input_dir}/{self.stage}/{self.key}"

    @property
    def upstream_ids(self) -> dict[str, str]:
        """What each port reads: an upstream artifact path or a source content hash."""
        ids = {port: node.rel for port, node in self.upstream.items()}
        ids.update({port: f"source:{src.content_hash}" for port, src in self.sources.items()})
        return ids

    def to_dict(self) -> dict:
        return {
            "input_dir": self.input_dir, "stage": self.stage, "version": self.version,
            "config": self.config, "significant": self.significant, "key": self.key, "force": self.force,
            "resources": self.resources,
            "upstream": {port: node.to_dict() for port, node in self.upstream.items()},
            "sources": {port: {"path": str(s.path), "content_hash": s.content_hash} for port, s in self.sources.items()},
        }

    @classmethod
    def from_dict(cls, data) -> "Node":
        return cls(
            input_dir=data["input_dir"], stage=data["stage"], version=data["version"],
            config=dict(data["config"]), significant=dict(data["significant"]), key=data["key"],
            force=data["force"], resources=dict(data["resources"]),
            upstream={port: cls.from_dict(up) for port, up in data["upstream"].items()},
            sources={port: Source(Path(s["path"]), s["content_hash"]) for port, s in data["sources"].items()},
        )


@dataclass
class InputPlan:
    """The nodes of one pipeline input (a set of source files), or why it cannot run."""

    label: str
    sources: dict[str, Path]
    final_stages: list[str]
    nodes: dict[str, Node] = field(default_factory=dict)
    error: InputError | None = None

    @property
    def finals(self) -> list[Node]:
        """The nodes of the pipeline's final stages: what the input's run is for."""
        return [] if self.error else [self.nodes[stage] for stage in self.final_stages]


def resolve_forced(pipeline: Pipeline, force: list[str], force_downstream: bool) -> set[str]:
    unknown = [s for s in force if s not in pipeline.stages]
    if unknown:
        raise ConfigError(f"--force {unknown[0]}: pipeline {pipeline.name} has stages {', '.join(pipeline.stages)}")
    forced = set(force)
    return pipeline.downstream_closure(forced) if force_downstream else forced


def build_plan(pipeline: Pipeline, inputs: list[dict[str, Path]], workspace: Workspace,
               forced: set[str] = frozenset()) -> list[InputPlan]:
    """Nodes for every input; inputs that are missing or unreadable carry an InputError instead.

    Automatic choices (`backend: auto`, devices) are made concrete here, once, so that the key names
    what will really run; backends that read what their upstream backends do not record are refused.
    """
    resolved = resolved_configs(pipeline)
    plans = []
    for sources in inputs:
        first = next(iter(sources.values()))
        plan = InputPlan(label=str(first), sources=sources, final_stages=pipeline.final_stages)
        plans.append(plan)
        try:
            hashed = {name: Source(path, _content_hash(path, workspace, name in pipeline.folders))
                      for name, path in sources.items()}
        except InputError as exc:
            plan.error = exc
            continue
        input_dir = input_dir_name(first, hashed[next(iter(hashed))].content_hash)
        for name, spec in pipeline.stages.items():
            upstream = {p: plan.nodes[t] for p, t in spec.inputs.items() if t in plan.nodes}
            stage_sources = {p: hashed[t] for p, t in spec.inputs.items() if t in hashed}
            config = resolved[name]
            node = Node(input_dir, name, spec.module.VERSION, config_dict(config), significant_values(config),
                        upstream, stage_sources, key="", force=name in forced,
                        resources=resources(config))
            node.key = artifact_key(name, node.version, node.significant, node.upstream_ids)
            plan.nodes[name] = node
    return plans


def resolved_configs(pipeline: Pipeline) -> dict:
    """Every stage's resolved config, with backends that fit together. A full backend that `auto` picked
    (its checkpoints are here) gives way to the embedded one where it does not fit the stages around it
    (a yolo track under the embedded masks, say): the fewest such backends give way, earliest stages'
    kept first. A plan that no such choice fits keeps its first refusal."""
    import itertools

    from vidcli.console import log

    resolved = {name: resolve(spec.module, spec.config) for name, spec in pipeline.stages.items()}
    picked = [name for name, spec in pipeline.stages.items() if getattr(spec.module, "COMPONENT", None)
              and spec.config.backend == "auto"
              and backends.get(spec.module.COMPONENT, resolved[name].backend).kind == backends.FULL]
    refusal = None
    for count in range(len(picked) + 1):
        for given_way in itertools.combinations(reversed(picked), count):
            trial = dict(resolved)
            for name in given_way:
                spec = pipeline.stages[name]
                embedded = backends.embedded_name(spec.module.COMPONENT)
                trial[name] = resolve(spec.module, replace(spec.config, backend=embedded))
            try:
                _check_backends(pipeline, trial)
            except ConfigError as exc:
                refusal = refusal or exc
                continue
            for name in given_way:
                log.info("%s: auto keeps the embedded backend: %s would not fit the stages around it", name,
                         resolved[name].backend)
            return trial
    raise refusal


def _check_backends(pipeline: Pipeline, resolved: dict) -> None:
    def backend_of(stage: str):
        component = getattr(pipeline.stages[stage].module, "COMPONENT", None)
        return backends.get(component, resolved[stage].backend) if component else None

    for name, spec in pipeline.stages.items():
        backend = backend_of(name)
        if backend:
            upstream = {port: backend_of(target) if target in pipeline.stages else None
                        for port, target in spec.inputs.items()}
            backends.check_compatible(name, backend, upstream)


def _content_hash(path: Path, workspace: Workspace, folder: bool = False) -> str:
    """The input's identity; `folder`: the pipeline takes a folder there too (a data set, mask images)."""
    try:
        path.stat()
    except FileNotFoundError:
        raise InputError(f"input not found: {path}") from None
    except OSError as error:  # a name too long, a loop of links: the path itself is bad
        raise InputError(f"input {path}: {error.strerror}") from None
    if not (path.is_file() or (folder and path.is_dir())):
        raise InputError(f"input is not a file{' or a folder' if folder else ''}: {path}")
    try:
        if path.is_dir():
            return folder_content_hash(path, workspace.hash_cache)
        return cached_content_hash(path, workspace.hash_cache)
    except PermissionError:
        raise InputError(f"input is not readable: {path}") from None


def node_status(node: Node, workspace: Workspace) -> tuple[str, str]:
    """("up to date", "") or ("would run", reason), the reason compared with the last finished run."""
    if node.force:
        return WOULD_RUN, "forced"
    final = workspace.root / node.rel
    if is_complete(final):
        return UP_TO_DATE, ""
    previous = complete_artifacts(final.parent)
    if not previous:
        return WOULD_RUN, "missing"
    last = read_manifest(previous[-1])
    changed_up = [p for p, ident in node.upstream_ids.items() if last.get("upstream", {}).get(p) != ident]
    if changed_up:
        return WOULD_RUN, f"upstream changed ({', '.join(changed_up)})"
    if last.get("version") != node.version:
        return WOULD_RUN, f"stage version changed ({last.get('version')} -> {node.version})"
    old = last.get("config", {})
    diffs = [f"{k} {old.get(k)!r} -> {v!r}" for k, v in node.significant.items() if old.get(k) != v]
    if diffs:
        return WOULD_RUN, "config changed: " + ", ".join(diffs)
    return WOULD_RUN, "missing"
