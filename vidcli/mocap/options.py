"""Settings of the body fit and the world optimisation, with their defaults (the stages' presets).

Kept free of heavy imports: the stage modules read the defaults at plan time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FitOptions:
    """Scales and weights of the body-fit energy (`vidcli.mocap.fitting`)."""

    sigma_px: float = 8.0
    sigma_m: float = 0.05
    weight_2d: float = 1.0
    weight_3d: float = 1.0
    occluded_3d: float = 0.25
    feet_3d: bool = False
    pose_prior: float = 0.5
    shape_prior: float = 10.0
    iterations: int = 50
    annealing: tuple[float, ...] = (4.0, 1.0)  # robust scales are multiplied by each in turn, one solve each


@dataclass
class WorldOptions:
    """Settings of the world optimisation (`vidcli.mocap.world`; the world stage documents each)."""

    max_gap: int = 15
    contact_height: float = 0.08
    contact_speed: float = 0.6
    ground_tilt_deg: float = 5.0
    ground_spread: float = 0.05
    sigma_px: float = 8.0
    sigma_m: float = 0.05
    occluded_3d: float = 0.25
    feet_3d: bool = False
    smooth: float = 1.0
    root_accel_sigma: float = 10.0
    limb_accel_sigma: float = 50.0
    skate_sigma: float = 0.005
    ground_sigma: float = 0.01
    shape_consistency: float = 10.0
    pose_consistency: float = 1.0
    iterations: int = 80
