"""A built-in procedural walk on the CMU skeleton, used when no BVH clip is given.

The skeleton is a T-pose (y up, facing +z, left +x) with the CMU MotionBuilder joint names, in CMU
units, so the walk goes through the same retargeting as a CMU clip and can be written as a BVH.
Every joint uses ``Xrotation Yrotation Zrotation`` channels (R = Rx @ Ry @ Rz).
"""

from __future__ import annotations

import numpy as np

from vidcli.bvh import CMU_UNIT_M, Motion

# name, parent, T-pose offset from the parent (metres), End Site offset (metres) or None.
_SKELETON = [
    ("Hips", None, (0, 0, 0), None),
    ("LHipJoint", "Hips", (0, 0, 0), None),
    ("LeftUpLeg", "LHipJoint", (0.09, -0.06, 0), None),
    ("LeftLeg", "LeftUpLeg", (0, -0.42, 0), None),
    ("LeftFoot", "LeftLeg", (0, -0.41, 0), None),
    ("LeftToeBase", "LeftFoot", (0, -0.05, 0.12), (0, 0, 0.06)),
    ("RHipJoint", "Hips", (0, 0, 0), None),
    ("RightUpLeg", "RHipJoint", (-0.09, -0.06, 0), None),
    ("RightLeg", "RightUpLeg", (0, -0.42, 0), None),
    ("RightFoot", "RightLeg", (0, -0.41, 0), None),
    ("RightToeBase", "RightFoot", (0, -0.05, 0.12), (0, 0, 0.06)),
    ("LowerBack", "Hips", (0, 0.06, 0), None),
    ("Spine", "LowerBack", (0, 0.13, 0), None),
    ("Spine1", "Spine", (0, 0.13, 0), None),
    ("Neck", "Spine1", (0, 0.15, 0), None),
    ("Neck1", "Neck", (0, 0.05, 0), None),
    ("Head", "Neck1", (0, 0.05, 0), (0, 0.18, 0)),
    ("LeftShoulder", "Spine1", (0.02, 0.1, 0), None),
    ("LeftArm", "LeftShoulder", (0.15, 0, 0), None),
    ("LeftForeArm", "LeftArm", (0.28, 0, 0), None),
    ("LeftHand", "LeftForeArm", (0.25, 0, 0), None),
    ("LeftFingerBase", "LeftHand", (0.04, 0, 0), None),
    ("LeftHandIndex1", "LeftFingerBase", (0.04, 0, 0), (0.04, 0, 0)),
    ("LThumb", "LeftHand", (0.02, 0, 0.03), (0.02, 0, 0.03)),
    ("RightShoulder", "Spine1", (-0.02, 0.1, 0), None),
    ("RightArm", "RightShoulder", (-0.15, 0, 0), None),
    ("RightForeArm", "RightArm", (-0.28, 0, 0), None),
    ("RightHand", "RightForeArm", (-0.25, 0, 0), None),
    ("RightFingerBase", "RightHand", (-0.04, 0, 0), None),
    ("RightHandIndex1", "RightFingerBase", (-0.04, 0, 0), (-0.04, 0, 0)),
    ("RThumb", "RightHand", (-0.02, 0, 0.03), (-0.02, 0, 0.03)),
]
_ROTATION = ["Xrotation", "Yrotation", "Zrotation"]


def procedural_walk(duration_s: float, fps: float, cadence_hz: float = 0.9, phase: float = 0.0) -> Motion:
    """A straight walk along +z at `cadence_hz` gait cycles per second.

    The root moves so that the stance ankle stays put on the ground: no foot skating, and the speed follows from the stride (about 1.2 m/s at 0.9 Hz).
    """
    names = [name for name, *_ in _SKELETON]
    frames = max(2, int(round(duration_s * fps)) + 1)
    t = np.arange(frames) / fps
    cycle = 2 * np.pi * cadence_hz * t + phase
    zero = np.zeros(frames)
    swing = {"Left": cycle, "Right": cycle + np.pi}
    angles = {name: (zero, zero, zero) for name in names}  # degrees about x, y, z
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        leg = swing[side]
        angles[f"{side}UpLeg"] = (-25 * np.sin(leg), zero, zero)
        angles[f"{side}Leg"] = (5 + 60 * np.maximum(0, np.cos(leg + 0.2)) ** 1.5, zero, zero)
        angles[f"{side}Foot"] = (-8 * np.sin(leg), zero, zero)
        angles[f"{side}Arm"] = (-20 * np.sin(leg + np.pi), zero, np.full(frames, -sign * 78.0))
        angles[f"{side}ForeArm"] = (zero, np.full(frames, -sign * 20.0) - sign * 8 * np.sin(leg + np.pi), zero)
    angles["Spine1"] = (zero, -6 * np.sin(cycle), zero)
    root_angles = np.stack([zero, 5 * np.sin(cycle), 2 * np.sin(cycle)], axis=1)

    columns = [np.zeros((frames, 3)), root_angles]
    columns += [np.stack(angles[name], axis=1) for name in names[1:]]
    parents = [names.index(parent) if parent else -1 for _, parent, _, _ in _SKELETON]
    offsets = np.array([offset for _, _, offset, _ in _SKELETON], float) / CMU_UNIT_M
    end_sites = [None if end is None else np.array(end, float) / CMU_UNIT_M for *_, end in _SKELETON]
    channels = [["Xposition", "Yposition", "Zposition", *_ROTATION]] + [_ROTATION] * (len(names) - 1)
    motion = Motion(names, parents, offsets, channels, end_sites, np.concatenate(columns, axis=1), 1.0 / fps)
    # A leg is in stance while its hip extends (from heel strike in front to toe-off behind).
    right_stance = np.cos(swing["Left"]) >= 0
    motion.values[:, :3] = _planted_root(motion, right_stance.astype(int))
    return motion


def _planted_root(motion: Motion, stance: np.ndarray) -> np.ndarray:
    """Root positions (F, 3) keeping the stance ankle (0 left, 1 right per frame) fixed, at y = 0."""
    _, positions = motion.forward_kinematics()
    ankles = positions[:, [motion.index("LeftFoot"), motion.index("RightFoot")]]
    frames = np.arange(len(ankles))
    planted = ankles[frames, stance]
    steps = np.zeros_like(planted)
    steps[1:] = ankles[frames[:-1], stance[1:]] - planted[1:]  # undo the stance ankle's motion
    root = np.cumsum(steps, axis=0)
    root[:, 1] = -planted[:, 1]
    return root
