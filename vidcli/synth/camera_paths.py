"""Camera trajectories around the walking area, as world<-camera poses per frame."""

from __future__ import annotations

import numpy as np

from vidcli.render.camera import look_at

CAMERA_PATHS = ("static", "pan", "orbit", "dolly", "handheld")
TARGET = np.array([0.0, 1.0, 0.0])
_HOME = np.array([0.6, 1.6, -7.5])


def camera_path(kind: str, frames: int, fps: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`R_wc` (F, 3, 3) and `t_wc` (F, 3) of a `kind` path (see CAMERA_PATHS) over `frames` frames."""
    s = np.linspace(0.0, 1.0, frames)
    ease = 0.5 - 0.5 * np.cos(np.pi * s)
    eyes = np.repeat(_HOME[None], frames, axis=0)
    targets = np.repeat(TARGET[None], frames, axis=0)
    roll = np.zeros(frames)
    if kind == "pan":
        targets[:, 0] = -3.0 + 6.0 * ease
    elif kind == "orbit":
        angle = np.radians(-35 + 70 * ease)
        radius = np.linalg.norm(_HOME[[0, 2]])
        eyes[:, 0], eyes[:, 2] = radius * np.sin(angle), -radius * np.cos(angle)
    elif kind == "dolly":
        eyes[:, 2] = -9.5 + 4.0 * ease
        eyes[:, 0] = 0.6 - 1.2 * ease
        targets[:, 2] = eyes[:, 2] + 8.0
    elif kind == "handheld":
        t = np.arange(frames) / fps
        eyes += 0.35 * _smooth_noise(rng, t, (0.05, 0.15)) + 0.015 * _smooth_noise(rng, t, (2.0, 5.0))
        eyes[:, 2] += 1.2 * ease
        targets += 0.4 * _smooth_noise(rng, t, (0.05, 0.2)) + 0.03 * _smooth_noise(rng, t, (2.0, 6.0))
        roll = np.radians(1.5) * _smooth_noise(rng, t, (0.3, 3.0))[:, 0]
    elif kind != "static":
        raise ValueError(f"unknown camera path {kind!r}; choose from {', '.join(CAMERA_PATHS)}")
    rotations = np.stack([look_at(e, g) for e, g in zip(eyes, targets)])
    c, s_ = np.cos(roll), np.sin(roll)
    about_axis = np.zeros((frames, 3, 3))
    about_axis[:, 0, 0], about_axis[:, 0, 1], about_axis[:, 1, 0], about_axis[:, 1, 1] = c, -s_, s_, c
    about_axis[:, 2, 2] = 1.0
    return rotations @ about_axis, eyes


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, band_hz: tuple[float, float], terms: int = 4) -> np.ndarray:
    """(len(t), 3) sums of random sinusoids with frequencies in `band_hz`, about unit amplitude."""
    frequency = rng.uniform(*band_hz, (terms, 3))
    phase = rng.uniform(0, 2 * np.pi, (terms, 3))
    return np.sin(2 * np.pi * frequency[None] * t[:, None, None] + phase[None]).sum(axis=1) / np.sqrt(terms)
