"""User workflow files: a pipeline applied to folders, globs or lists of inputs.

    pipeline: flow              # a built-in pipeline name, or a path to a pipeline YAML file
    inputs:                     # files, folders (their videos) or globs; relative to this file
      - clips/
      - more/*.mov
    workspace: ./vidcli-work    # optional; --workspace on the command line wins
    workers: 2                  # optional
    outputs: ./results          # optional: final artifacts are copied to <outputs>/<input>/<stage>/
    config:                     # optional per-stage overrides of the pipeline's presets
      frames: {max_size: 640}
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import yaml

from vidcli.engine.pipeline import Pipeline, load_pipeline, read_yaml, yaml_problem
from vidcli.errors import ConfigError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
KEYS = {"pipeline", "inputs", "workspace", "workers", "outputs", "config"}


@dataclass
class Workflow:
    path: Path
    pipeline: Pipeline
    inputs: list[dict[str, Path]]
    workspace: Path | None = None
    workers: int | None = None
    outputs: Path | None = None


def load_workflow(path: Path, assignments=()) -> Workflow:
    """Read and validate a workflow file, then apply `--set` assignments; every problem is a ConfigError
    naming the file."""
    where = str(path)
    try:
        data = read_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: malformed YAML: {yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read workflow file: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a workflow file is a mapping with keys {', '.join(sorted(KEYS))}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(KEYS))}")
    for required in ("pipeline", "inputs"):
        if required not in data:
            raise ConfigError(f"{where}: missing key {required!r}")
    config = data.get("config") or {}
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        raise ConfigError(f"{where}: 'config' maps stage names to mappings of settings")
    base = path.parent
    pipeline_ref = str(data["pipeline"])
    if pipeline_ref.endswith((".yaml", ".yml")):
        pipeline_ref = str(base / pipeline_ref)
    pipeline = load_pipeline(pipeline_ref, config, list(assignments))
    workers = data.get("workers")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ConfigError(f"{where}: 'workers' must be a positive integer, got {workers!r}")
    return Workflow(
        path=path, pipeline=pipeline, inputs=expand_inputs(data["inputs"], pipeline, base, where),
        workspace=_optional_path(data, "workspace", base, where), workers=workers,
        outputs=_optional_path(data, "outputs", base, where),
    )


def expand_inputs(entries, pipeline: Pipeline, base: Path, where: str) -> list[dict[str, Path]]:
    """Each entry becomes one or more inputs, mapping the pipeline's source names to files.

    A string is a file, a folder (its videos, sorted) or a glob, for a single-source pipeline (whose
    source is a folder, as a data set is: the folder itself, or the folders a glob matches); a
    mapping names a file for each source. A file that does not exist stays in the list, so that it
    fails alone, as an invalid input, while the others run.
    """
    if isinstance(entries, (str, dict)):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: 'inputs' must be a non-empty list of files, folders or globs")
    found: list[dict[str, Path]] = []
    for entry in entries:
        if isinstance(entry, dict):
            if set(entry) != set(pipeline.sources):
                raise ConfigError(f"{where}: an input mapping needs exactly the sources {pipeline.sources}")
            found.append({name: _resolve(str(value), base) for name, value in entry.items()})
            continue
        if len(pipeline.sources) != 1:
            raise ConfigError(f"{where}: pipeline {pipeline.name} takes {pipeline.sources}: give each input as a mapping")
        source = pipeline.sources[0]
        expand = _expand_folder if source in pipeline.folders else _expand_one
        found.extend({source: p} for p in expand(str(entry), base, where))
    if not found:
        raise ConfigError(f"{where}: 'inputs' matched no file")
    return found


def _expand_one(entry: str, base: Path, where: str) -> list[Path]:
    path = _resolve(entry, base)
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as error:  # a name too long, a loop of links
        raise ConfigError(f"{where}: input {entry[:80]!r}: {error.strerror}") from None
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if glob.has_magic(entry):
        return sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    return [path]


def _expand_folder(entry: str, base: Path, where: str) -> list[Path]:
    path = _resolve(entry, base)
    if glob.has_magic(entry):
        return sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_dir())
    return [path]


def _resolve(entry: str, base: Path) -> Path:
    path = Path(entry).expanduser()
    return path if path.is_absolute() else base / path


def _optional_path(data: dict, key: str, base: Path, where: str) -> Path | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key!r} must be a path")
    return _resolve(value, base)
