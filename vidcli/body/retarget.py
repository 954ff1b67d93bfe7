"""Retarget CMU-skeleton BVH motion onto Anny's cmu_mb rig, keeping bone directions.

Each Anny bone is first turned from its rest direction onto the direction the matching BVH joint
has in the BVH rest pose (a fixed "alignment" rotation, fitted to the vectors from the joint to its
nearest descendants), then by the BVH joint's world rotation of the frame. So a BVH T-pose gives an
Anny T-pose whatever Anny's own rest pose is. The root translation is scaled by the ratio of Anny's
leg length to the BVH skeleton's.
"""

from __future__ import annotations

import numpy as np

from vidcli.body.anny_model import RestBody
from vidcli.bvh import CMU_UNIT_M, NAMINGS, Motion
from vidcli.errors import InputError

# BVH (MotionBuilder) joint name -> cmu_mb bone name, where they differ.
_BVH_TO_RIG = {"LeftHandIndex1": "LeftHandFinger1", "RightHandIndex1": "RightHandFinger1"}
# Bones without which a skeleton cannot drive the body; others a BVH skeleton lacks (a second spine or
# neck joint, toes, fingers) stay rigid with their parent bone.
REQUIRED_BONES = ("Hips", "Head", *(f"{side}{bone}" for side in ("Left", "Right")
                                    for bone in ("UpLeg", "Leg", "Foot", "Arm", "ForeArm", "Hand")))
_MIN_LENGTH = 1e-6


def retarget(motion: Motion, rest: RestBody, bone_names: list[str], parents: list[int],
             unit_m: float = CMU_UNIT_M) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame bone rotations (F, B, 3, 3) away from Anny's rest and hips positions (F, 3), metres.

    The rotations and positions are in the BVH's own axes, which for CMU files are vidcli's world
    axes (y up); the motion keeps the clip's own placement on the ground plane.
    """
    rig_names = [_BVH_TO_RIG.get(name, name) for name in motion.names]
    missing = [name for name in REQUIRED_BONES if name not in rig_names]
    if missing:
        raise InputError(f"the BVH skeleton lacks {', '.join(missing)} (known namings: CMU MotionBuilder, "
                         f"{', '.join(NAMINGS)})")
    joint_of_bone = np.full(len(bone_names), -1)
    for bone, name in enumerate(bone_names):
        joint_of_bone[bone] = rig_names.index(name) if name in rig_names else joint_of_bone[parents[bone]]
    mapped = [name in rig_names for name in bone_names]
    world_rotations, positions = motion.forward_kinematics()

    bvh_rest = _rest_positions(motion)
    alignments = np.empty((len(bone_names), 3, 3))
    for bone, parent in enumerate(parents):
        joint = joint_of_bone[bone]
        rig_vectors, bvh_vectors = [], []
        apart = {name for b, name in enumerate(bone_names)
                 if np.linalg.norm(rest.heads[b] - rest.heads[bone]) > _MIN_LENGTH}
        for descendant in _first_offset_descendants(motion, joint, apart) if mapped[bone] else []:
            rig_bone = bone_names.index(rig_names[descendant])
            rig_vectors.append(rest.heads[rig_bone] - rest.heads[bone])
            bvh_vectors.append(bvh_rest[descendant] - bvh_rest[joint])
        end_site = motion.end_sites[joint]
        if mapped[bone] and end_site is not None and np.linalg.norm(end_site) > _MIN_LENGTH:
            rig_vectors.append(rest.tails[bone] - rest.heads[bone])
            bvh_vectors.append(end_site)
        if rig_vectors:
            alignments[bone] = _fit_rotation(np.array(rig_vectors), np.array(bvh_vectors))
        else:
            alignments[bone] = alignments[parent] if parent >= 0 else np.eye(3)

    rotations = world_rotations[:, joint_of_bone] @ alignments
    scale = unit_m * _leg_length(rest.heads, bone_names) / _leg_length(
        bvh_rest[joint_of_bone] * unit_m, bone_names)
    return rotations, positions[:, joint_of_bone[0]] * scale


def _rest_positions(motion: Motion) -> np.ndarray:
    """Joint positions of the BVH rest pose (every rotation the identity), file units."""
    positions = np.zeros((len(motion.names), 3))
    for joint, parent in enumerate(motion.parents):
        positions[joint] = motion.offsets[joint] + (positions[parent] if parent >= 0 else 0.0)
    return positions


def _first_offset_descendants(motion: Motion, joint: int, rig_names: set[str] | None = None) -> list[int]:
    """The nearest descendants of `joint` that sit away from it and, given `rig_names`, are named there
    (zero-offset joints, and the others, are looked through)."""
    found, stack = [], list(motion.children(joint))
    while stack:
        child = stack.pop()
        name = _BVH_TO_RIG.get(motion.names[child], motion.names[child])
        if np.linalg.norm(motion.offsets[child]) > _MIN_LENGTH and (rig_names is None or name in rig_names):
            found.append(child)
        else:
            stack += motion.children(child)
    return found


def _fit_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation turning the directions `source` (N, 3) onto `target` (N, 3) best (exactly for N = 1)."""
    source = source / np.linalg.norm(source, axis=1, keepdims=True)
    target = target / np.linalg.norm(target, axis=1, keepdims=True)
    if len(source) == 1 or np.linalg.matrix_rank(source, tol=1e-3) < 2:
        return _minimal_rotation(source.mean(axis=0), target.mean(axis=0))
    u, _, vt = np.linalg.svd(source.T @ target)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    return vt.T @ flip @ u.T


def _minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation turning direction `a` onto direction `b`."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-9:
        if cos > 0:
            return np.eye(3)
        perpendicular = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis, sin = perpendicular / np.linalg.norm(perpendicular), 0.0
    else:
        axis = axis / sin
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + sin * skew + (1 - cos) * skew @ skew


def _leg_length(heads: np.ndarray, bone_names: list[str]) -> float:
    """Hip-to-knee plus knee-to-ankle length of the left leg, from bone heads (B, 3)."""
    hip, knee, ankle = (heads[bone_names.index(name)] for name in ("LeftUpLeg", "LeftLeg", "LeftFoot"))
    return float(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
