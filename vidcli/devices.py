"""Accelerators, found without initialising CUDA (Luigi forks workers from the parent process)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


@functools.cache
def visible_gpu_count() -> int:
    """NVIDIA GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def concrete_device(requested: str) -> str:
    """The device a `device` setting (auto | cpu | cuda) names: `auto` is cuda where a GPU is visible."""
    if requested == "auto":
        return "cuda" if visible_gpu_count() else "cpu"
    return requested
