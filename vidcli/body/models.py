"""Body models behind one interface on the SMPL-24 skeleton: Anny (default), SMPL and SMPL-X.

Fitting works in joint space: a model gives, for free shape parameters, its rest joints (SMPL-24,
pelvis at the origin, y up, facing +z, left +x) and rest BlazePose-33 landmarks, both differentiable in
torch, plus each landmark's skinning weights over the 24 joints; `vidcli.body.kinematics` poses them.
Meshes (for rendering and GLB export) come from the model itself at the end. A pose is the 24 local
rotations away from the model's rest pose (Anny's is an A-pose, SMPL's a T-pose).

`BodySpec` names a model (`anny`, or `smpl` / `smplx` with the folder holding the user's model files
and a gender); `load_body_model` builds it once per process.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import torch

from vidcli.body import BODY_MODELS
from vidcli.body.kinematics import axis_angle_to_matrix, forward_kinematics
from vidcli.body.skeletons import BLAZEPOSE_33, SMPL_24
from vidcli.errors import ConfigError


@dataclass(frozen=True)
class BodySpec:
    """Which body model: `name` in BODY_MODELS; for SMPL / SMPL-X the model file and its gender."""

    name: str = "anny"
    model_file: str = ""
    gender: str = "neutral"

    def as_dict(self) -> dict:
        return asdict(self)


class BodyModel(Protocol):
    """What fitting, the world optimisation and the exports need from a body model."""

    name: str
    shape_labels: tuple[str, ...]  # one per stored shape value
    free_scale: np.ndarray  # (S,): prior scale of each free shape parameter (the prior is sum (free/scale)^2)
    landmark_weights: np.ndarray  # (33, 24): each BlazePose landmark's skinning weights over SMPL-24
    landmark_valid: np.ndarray  # (33,): landmarks the model has
    faces: np.ndarray  # (T, 3)

    def rest(self, free: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints (24, 3), pelvis at the origin, and each landmark's rest offset from each joint
        (33, 24, 3), float64, differentiable in `free`."""

    def shape(self, free: np.ndarray) -> np.ndarray:
        """The shape values stored in artifacts of free parameters."""

    def free(self, shape: np.ndarray) -> np.ndarray:
        """Free parameters of stored shape values (the inverse of `shape`)."""

    def rest_mesh(self, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rest vertices (V, 3), pelvis at the origin, and skinning weights (V, 24) over SMPL-24."""

    def mesh(self, shape: np.ndarray, local: np.ndarray, root: np.ndarray) -> np.ndarray:
        """Posed vertices (F, V, 3) float32 for local rotations (F, 24, 3, 3) and pelvis positions (F, 3)."""


def pose_numpy(model: BodyModel, shape: np.ndarray, local: np.ndarray, root: np.ndarray):
    """Global rotations (F, 24, 3, 3), joints (F, 24, 3) and landmarks (F, 33, 3) of a pose, numpy."""
    from vidcli.body.kinematics import skin_points

    with torch.no_grad():
        rest_joints, offsets = model.rest(torch.from_numpy(model.free(np.asarray(shape, float))))
        rotations, joints = forward_kinematics(torch.from_numpy(np.asarray(local, float)), rest_joints,
                                               torch.from_numpy(np.asarray(root, float)))
        landmarks = skin_points(rotations, joints, offsets, torch.from_numpy(model.landmark_weights))
    return rotations.numpy(), joints.numpy(), landmarks.numpy()


# Anny bones between two SMPL joints whose rotation is a per-person constant: the pelvis-to-hip bones
# and the upper neck. They set where the hips sit below the pelvis and the head above the neck.
_ADJUSTED_BONES = ("LHipJoint", "RHipJoint", "Neck1")


class AnnyModel:
    """Anny (cmu_mb rig) on the SMPL-24 skeleton.

    Shape: the phenotype (height, weight, age, gender, each in [0, 1]; free parameters are their
    logits), then the rotation vectors (radians) of the `_ADJUSTED_BONES`, which turn those bones and
    everything below them in the rest pose. Every other rig bone follows one SMPL joint's rotation
    (its own head's joint, else its nearest such ancestor's: the thumb and finger bones), so SMPL-24
    forward kinematics on the adjusted rest bone heads reproduces the rig's posed bone heads exactly.
    """

    name = "anny"
    phenotype_labels = ("height", "weight", "age", "gender")
    shape_labels = phenotype_labels + tuple(f"{bone}_{axis}" for bone in _ADJUSTED_BONES for axis in "xyz")
    free_scale = np.r_[np.ones(4), np.full(3 * len(_ADJUSTED_BONES), 0.5)]

    def __init__(self):
        from vidcli.body.anny_model import ANNY_TO_WORLD, load_body

        self.body = load_body()
        model = self.body.model
        self._to_world = torch.from_numpy(ANNY_TO_WORLD.T.copy())
        self.faces = self.body.faces
        names, parents = self.body.bone_names, self.body.parents
        smpl_bones = list(self.body.smpl.bone)
        self.bone_joint = np.empty(len(names), np.int64)
        for bone, parent in enumerate(parents):
            self.bone_joint[bone] = smpl_bones.index(bone) if bone in smpl_bones else self.bone_joint[parent]
        # Each bone's adjusted ancestor-or-self (index into _ADJUSTED_BONES), or -1.
        self.bone_adjusted = np.full(len(names), -1)
        for bone, parent in enumerate(parents):
            if names[bone] in _ADJUSTED_BONES:
                self.bone_adjusted[bone] = _ADJUSTED_BONES.index(names[bone])
            elif parent >= 0:
                self.bone_adjusted[bone] = self.bone_adjusted[parent]
        anchors = [names.index(bone) for bone in _ADJUSTED_BONES]
        anchor = [anchors[a] if a >= 0 else b for b, a in enumerate(self.bone_adjusted)]
        self._anchor = torch.from_numpy(np.array(anchor))
        self._joint_bone = torch.from_numpy(np.asarray(smpl_bones)[self.bone_joint])

        weights = model.vertex_bone_weights.numpy()
        indices = model.vertex_bone_indices.numpy()
        self._vertex_weights = np.zeros((len(weights), len(SMPL_24)))
        np.add.at(self._vertex_weights, (np.arange(len(weights))[:, None], self.bone_joint[indices]), weights)
        self._vertex_weights /= self._vertex_weights.sum(axis=1, keepdims=True)

        blazepose = self.body.blazepose
        self.landmark_valid = blazepose.valid.copy()
        bone_weights = np.zeros((len(BLAZEPOSE_33), len(names)))
        for index in np.flatnonzero(blazepose.valid):
            if blazepose.bone[index] >= 0:
                bone_weights[index, blazepose.bone[index]] = 1.0
            else:
                vertex = blazepose.vertex[index]
                np.add.at(bone_weights[index], indices[vertex], weights[vertex])
        bone_weights /= np.maximum(bone_weights.sum(axis=1, keepdims=True), 1e-12)
        to_joint = np.eye(len(SMPL_24))[self.bone_joint]  # (B, 24)
        self.landmark_weights = bone_weights @ to_joint
        self._bone_weights = torch.from_numpy(bone_weights)
        self._to_joint = torch.from_numpy(to_joint)
        self._landmark_bone = torch.from_numpy(np.maximum(blazepose.bone, 0))
        self._from_bone = torch.from_numpy(blazepose.bone >= 0)
        self._smpl_bones = torch.from_numpy(np.asarray(smpl_bones))
        self._bone_template = model.template_bone_heads
        self._bone_dirs = model.bone_heads_blendshapes
        landmark_vertex = torch.from_numpy(np.maximum(blazepose.vertex, 0))
        self._vertex_template = model.template_vertices[landmark_vertex]
        self._vertex_dirs = model.blendshapes[:, landmark_vertex]

    def _adjustments(self, free: torch.Tensor) -> torch.Tensor:
        """Per-bone rest rotations (B, 3, 3): an adjusted bone's rotation over its subtree, else identity."""
        rotations = axis_angle_to_matrix(free[4:].reshape(len(_ADJUSTED_BONES), 3))
        eye = torch.eye(3, dtype=free.dtype).expand(1, 3, 3)
        return torch.cat([rotations, eye])[torch.from_numpy(self.bone_adjusted)]

    def rest(self, free: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phenotype = torch.sigmoid(free[:4])
        coefficients = self.body.model.get_phenotype_blendshape_coefficients(
            **{label: phenotype[i:i + 1] for i, label in enumerate(self.phenotype_labels)})[0]
        heads = self._bone_template + torch.einsum("cbd,c->bd", self._bone_dirs, coefficients)
        vertices = self._vertex_template + torch.einsum("cvd,c->vd", self._vertex_dirs, coefficients)
        heads_world = (heads - heads[0]) @ self._to_world
        points = torch.where(self._from_bone[:, None], heads[self._landmark_bone], vertices)
        points = (points - heads[0]) @ self._to_world
        turn = self._adjustments(free)
        anchor = heads_world[self._anchor]
        adjusted = anchor + torch.einsum("bij,bj->bi", turn, heads_world - anchor)  # (B, 3)
        joints = adjusted[self._smpl_bones]
        # Offset of landmark p as bone b carries it, relative to the joint b follows; then per joint.
        per_bone = (adjusted - adjusted[self._joint_bone])[None] + torch.einsum(
            "bij,pbj->pbi", turn, points[:, None, :] - heads_world[None])
        total = self._bone_weights @ self._to_joint  # (P, 24)
        offsets = torch.einsum("pb,pbd,bj->pjd", self._bone_weights, per_bone, self._to_joint)
        return joints, offsets / total.clamp(min=1e-12)[..., None]

    def shape(self, free: np.ndarray) -> np.ndarray:
        free = np.asarray(free, float)
        return np.r_[1.0 / (1.0 + np.exp(-free[:4])), free[4:]]

    def free(self, shape: np.ndarray) -> np.ndarray:
        shape = np.asarray(shape, float)
        phenotype = np.clip(shape[:4], 1e-4, 1 - 1e-4)
        return np.r_[np.log(phenotype / (1 - phenotype)), shape[4:]]

    def _phenotype(self, shape: np.ndarray):
        from vidcli.body.anny_model import Phenotype

        return Phenotype(**dict(zip(self.phenotype_labels, (float(v) for v in shape[:4]))))

    def rest_mesh(self, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rest = self.mesh(shape, np.eye(3)[None, None].repeat(len(SMPL_24), 1), np.zeros((1, 3)))[0]
        return rest.astype(np.float64), self._vertex_weights

    def mesh(self, shape: np.ndarray, local: np.ndarray, root: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            turn = self._adjustments(torch.from_numpy(self.free(shape))).numpy()
            rotations, _ = forward_kinematics(torch.from_numpy(np.asarray(local, float)),
                                              torch.zeros(len(SMPL_24), 3, dtype=torch.float64),
                                              torch.from_numpy(np.asarray(root, float)))
        bone_rotations = rotations.numpy()[:, self.bone_joint] @ turn
        rest = self.body.rest(self._phenotype(shape))
        vertices, _ = self.body.pose(rest, bone_rotations, np.asarray(root, float))
        return vertices


@functools.lru_cache(maxsize=4)
def load_body_model(spec: BodySpec) -> BodyModel:
    """The body model `spec` names (built once per process)."""
    if spec.name == "anny":
        return AnnyModel()
    if spec.name in ("smpl", "smplx"):
        from vidcli.body.smpl_model import SmplModel

        return SmplModel(spec.name, spec.model_file, spec.gender)
    raise ConfigError(f"unknown body model {spec.name!r}; choose from {', '.join(BODY_MODELS)}")
