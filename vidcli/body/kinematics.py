"""Forward kinematics of the SMPL-24 skeleton in torch (differentiable), shared by every body model.

A pose is per-joint *local* rotations (..., 24, 3, 3) away from the body model's rest pose (the root's
is the body's orientation in the frame of interest) and the root (pelvis) position (..., 3). A joint's
global rotation is its parent's times its own; a joint sits at its parent's position plus the parent's
global rotation applied to the rest offset between them, as in SMPL and in a BVH file. Landmarks
(BlazePose-33) are skinned linearly: each is a weighted sum over joints of where that joint's rigid
motion takes the landmark's rest offset from the joint.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from vidcli.body.skeletons import SMPL_24_PARENTS

_SMALL_ANGLE = 1e-6


def axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (Rodrigues; smooth at zero)."""
    theta2 = (v * v).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    theta = torch.sqrt(theta2 + _SMALL_ANGLE**2)
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(v.shape[:-1] + (3, 3))
    a = torch.sin(theta) / theta
    b = (1 - torch.cos(theta)) / (theta2 + _SMALL_ANGLE**2)
    eye = torch.eye(3, dtype=v.dtype, device=v.device)
    return eye + a * skew + b * (skew @ skew)


def matrix_to_axis_angle(rotations: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) of rotation matrices (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    rotations = np.asarray(rotations, float)
    return Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_rotvec().reshape(rotations.shape[:-2] + (3,))


def forward_kinematics(local: torch.Tensor, rest_joints: torch.Tensor, root: torch.Tensor,
                       parents=SMPL_24_PARENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Global rotations (..., J, 3, 3) and joint positions (..., J, 3).

    `local` (..., J, 3, 3), `rest_joints` (J, 3) or (..., J, 3) in the body's rest pose, `root` (..., 3)
    where joint 0 goes. Joints of equal depth in the tree are posed together.
    """
    levels, slots, inverse = _tree_levels(tuple(parents))
    parent_index = torch.tensor([max(p, 0) for p in parents])
    offsets = (rest_joints - rest_joints[..., parent_index, :]).expand(local.shape[:-2] + (3,))
    rotations, positions = [local[..., :1, :, :]], [root[..., None, :]]
    for level, slot in zip(levels[1:], slots[1:]):
        parent_rotations = rotations[-1][..., slot, :, :]
        moved = (parent_rotations @ offsets[..., level, :, None])[..., 0]
        positions.append(positions[-1][..., slot, :] + moved)
        rotations.append(parent_rotations @ local[..., level, :, :])
    return torch.cat(rotations, -3)[..., inverse, :, :], torch.cat(positions, -2)[..., inverse, :]


@functools.lru_cache(maxsize=4)
def _tree_levels(parents: tuple[int, ...]):
    """Joints by depth in the tree (a parent is always one level up), each joint's parent's slot in the
    level above, and the permutation from level order back to joint order."""
    depth = [0] * len(parents)
    for joint, parent in enumerate(parents):
        depth[joint] = depth[parent] + 1 if parent >= 0 else 0
    levels = [[j for j in range(len(parents)) if depth[j] == d] for d in range(max(depth) + 1)]
    slots = [torch.tensor([levels[d - 1].index(parents[j]) for j in level]) if d else None
             for d, level in enumerate(levels)]
    order = [j for level in levels for j in level]
    inverse = torch.tensor(np.argsort(order))
    return [torch.tensor(level) for level in levels], slots, inverse


def skin_points(rotations: torch.Tensor, joints: torch.Tensor, offsets: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
    """Posed points (..., P, 3) by linear blend skinning.

    `rotations` (..., J, 3, 3) and `joints` (..., J, 3) from `forward_kinematics`; `offsets` (P, J, 3):
    each point's rest position relative to each joint, as that joint's rigid motion carries it;
    `weights` (P, J) summing to 1 per point.
    """
    moved = torch.einsum("...jab,pjb->...pja", rotations, offsets) + joints[..., None, :, :]
    return torch.einsum("pj,...pja->...pa", weights, moved)
