"""Run one node: lock its key, call the stage in a temporary directory, write the manifest, publish."""

from __future__ import annotations

import os
import shutil
import time

from vidcli import __version__
from vidcli.console import log
from vidcli.engine.plan import Node
from vidcli.engine.stage import Artifact, RunInfo, load_stage
from vidcli.engine.store import (
    HOST, MANIFEST, Workspace, elapsed_since, is_done, key_lock, new_temp_dir, now_iso, package_versions,
    publish, remove_if_empty, resume_dir, stale_leftovers, write_json_durably,
)


def execute(node: Node, workspace: Workspace, run_id: str) -> bool:
    """Produce the node's artifact unless it is done; True if this call made it. The node's config was
    checked and resolved when the plan was made, so it is used as it is."""
    final = workspace.artifact(node)
    stage_dir = final.parent

    def waiting():
        log.info("%s: waiting for another process computing %s", node.stage, node.rel)

    try:
        with key_lock(stage_dir, node.key, on_wait=waiting):
            return _execute_locked(node, workspace, run_id, final)
    finally:
        if not final.exists():  # failed: no empty stage or input folder is left behind
            remove_if_empty(stage_dir, stage_dir.parent)


def _execute_locked(node: Node, workspace: Workspace, run_id: str, final) -> bool:
    """The node's run with its key locked: skip it if done, else run the stage into a temporary folder,
    write the manifest and publish."""
    stage_dir = final.parent
    if is_done(final, node.force, run_id):
        return False
    for leftover in stale_leftovers(stage_dir, node.key):
        shutil.rmtree(leftover, ignore_errors=True)
    module = load_stage(node.stage)
    config = module.Config(**node.config)
    inputs = {port: Artifact(workspace.root / up.rel) for port, up in node.upstream.items()}
    inputs.update(node.sources)
    tmp = new_temp_dir(stage_dir, node.key)
    try:
        started_at, start = now_iso(), time.monotonic()
        log.info("%s: running for %s", node.stage, node.input_dir)
        info = module.run(config, inputs, tmp) or RunInfo()
        manifest = {
            "stage": node.stage, "version": node.version, "key": node.key, "input": node.input_dir,
            "config": node.config, "significant": sorted(node.significant),
            "upstream": node.upstream_ids,
            "sources": {p: {"path": str(s.path), "content_hash": s.content_hash}
                        for p, s in node.sources.items()},
            "backend": {"name": info.backend, "model": info.model, "checksum": info.checksum},
            "counts": info.counts, "packages": package_versions(), "vidcli": __version__,
            "started": started_at, "finished": now_iso(), "seconds": elapsed_since(start),
            "run_id": run_id, "host": HOST, "pid": os.getpid(),
        }
        write_json_durably(tmp / MANIFEST, manifest)
        publish(tmp, final, replace=node.force)
        shutil.rmtree(resume_dir(stage_dir, node.key), ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return True

