"""Skeletons that users' characters already have, for the BVH and glTF exports (`export.rig`).

The motion is fitted on SMPL-24. A rig renames its joints, adds the bones a character's skeleton has
between them (with no rotation of their own) and, for Mixamo and the UE5 Mannequin, re-expresses the
rotations relative to a T-pose rest: arms straight out along ±x, legs straight down, the torso, head,
collar bones and feet as in the fitted rest skeleton. Every joint the rig shares with SMPL-24 has the
same world position in every frame as in the source motion; only rest pose and names change, so a
retargeting tool that maps bones by name finds every chain.

- `smpl`: SMPL-24 names and hierarchy, rest pose of the body model (SMPL's own T-pose for SMPL bodies).
- `anny`: the same 24 joints named as the Anny (cmu_mb) rig names the bones whose heads sit on them.
- `mixamo`: `mixamorig:` names and hierarchy of Mixamo's auto-rigger (Hips > Spine > Spine1 > Spine2 >
  Neck > Head; LeftShoulder > LeftArm > LeftForeArm > LeftHand > LeftHandMiddle1; LeftUpLeg > LeftLeg >
  LeftFoot > LeftToeBase), T-pose.
- `ue5`: the UE5 Mannequin (Manny/Quinn) body bones: root on the floor carrying the translation,
  pelvis, spine_01..spine_05, neck_01, neck_02, head, clavicle/upperarm/lowerarm/hand,
  middle_metacarpal and middle_01 per hand, thigh/calf/foot/ball per leg, T-pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcli.body.skeletons import SMPL_24, SMPL_24_PARENTS

RIGS = ("smpl", "anny", "mixamo", "ue5")
# SMPL joints whose bone from the parent is straightened in the T-pose, and the direction it takes.
_T_POSE_DIRECTIONS = {
    **{f"{side}_{joint}": (sign, 0.0, 0.0) for side, sign in (("left", 1.0), ("right", -1.0))
       for joint in ("shoulder", "elbow", "wrist", "hand")},
    **{f"{side}_{joint}": (0.0, -1.0, 0.0) for side in ("left", "right") for joint in ("knee", "ankle")},
}


@dataclass(frozen=True)
class Bone:
    """One bone of a rig: its head is an SMPL-24 joint, or, without one (`joint` None), it sits a
    `fraction` of the way from its parent's head to its only child's and does not rotate by itself;
    a parentless bone without a joint is a root on the floor under the pelvis that carries the motion."""

    name: str
    parent: str | None
    joint: str | None = None
    fraction: float = 0.5


@dataclass(frozen=True)
class Rig:
    name: str
    bones: tuple[Bone, ...]  # parents before children
    t_pose: bool

    @property
    def names(self) -> list[str]:
        return [bone.name for bone in self.bones]

    @property
    def parents(self) -> list[int]:
        return [self.names.index(bone.parent) if bone.parent else -1 for bone in self.bones]

    @property
    def floor_root(self) -> bool:
        """Whether the first bone is a root on the floor (placed by the rest soles' height)."""
        return self.bones[0].joint is None

    def bone_of(self, joint: int) -> int:
        """The index of the bone whose head is SMPL-24 joint `joint`."""
        return next(i for i, bone in enumerate(self.bones) if bone.joint == SMPL_24[joint])


def _renamed(names: dict[str, str]) -> tuple[Bone, ...]:
    return tuple(Bone(names[name], names[SMPL_24[parent]] if parent >= 0 else None, name)
                 for name, parent in zip(SMPL_24, SMPL_24_PARENTS))


def _sided(pairs: dict[str, str], left: str, right: str) -> dict[str, str]:
    """SMPL `left_x`/`right_x` -> the rig's name with `{}` filled by the rig's side spelling."""
    return {f"{side}_{joint}": name.format(spelling) for joint, name in pairs.items()
            for side, spelling in (("left", left), ("right", right))}


_ANNY = {"pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck",
         "head": "Head", **_sided({"hip": "{}UpLeg", "knee": "{}Leg", "ankle": "{}Foot", "foot": "{}ToeBase",
                                   "collar": "{}Shoulder", "shoulder": "{}Arm", "elbow": "{}ForeArm",
                                   "wrist": "{}Hand", "hand": "{}FingerBase"}, "Left", "Right")}
_MIXAMO = {name: f"mixamorig:{bone}" for name, bone in {
    **_ANNY, "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2",
    **_sided({"hand": "{}HandMiddle1"}, "Left", "Right")}.items()}


def _ue5() -> tuple[Bone, ...]:
    bones = [Bone("root", None), Bone("pelvis", "root", "pelvis"), Bone("spine_01", "pelvis", "spine1"),
             Bone("spine_02", "spine_01"), Bone("spine_03", "spine_02", "spine2"),
             Bone("spine_04", "spine_03"),
             Bone("spine_05", "spine_04", "spine3"), Bone("neck_01", "spine_05", "neck"),
             Bone("neck_02", "neck_01"), Bone("head", "neck_02", "head")]
    for side, s in (("left", "l"), ("right", "r")):
        bones += [Bone(f"clavicle_{s}", "spine_05", f"{side}_collar"),
                  Bone(f"upperarm_{s}", f"clavicle_{s}", f"{side}_shoulder"),
                  Bone(f"lowerarm_{s}", f"upperarm_{s}", f"{side}_elbow"),
                  Bone(f"hand_{s}", f"lowerarm_{s}", f"{side}_wrist"),
                  Bone(f"middle_metacarpal_{s}", f"hand_{s}", fraction=0.1),
                  Bone(f"middle_01_{s}", f"middle_metacarpal_{s}", f"{side}_hand"),
                  Bone(f"thigh_{s}", "pelvis", f"{side}_hip"),
                  Bone(f"calf_{s}", f"thigh_{s}", f"{side}_knee"),
                  Bone(f"foot_{s}", f"calf_{s}", f"{side}_ankle"),
                  Bone(f"ball_{s}", f"foot_{s}", f"{side}_foot")]
    return tuple(bones)


_TABLE = {
    "smpl": Rig("smpl", _renamed({name: name for name in SMPL_24}), t_pose=False),
    "anny": Rig("anny", _renamed(_ANNY), t_pose=False),
    "mixamo": Rig("mixamo", _renamed(_MIXAMO), t_pose=True),
    "ue5": Rig("ue5", _ue5(), t_pose=True),
}


def get_rig(name: str) -> Rig:
    return _TABLE[name]


@dataclass
class RiggedMotion:
    """A motion on a rig: rest bone heads (B, 3) with the first bone's at its rest place, local
    rotations (F, B, 3, 3) relative to that rest pose, and the first bone's world position (F, 3)."""

    rig: Rig
    rest: np.ndarray
    local: np.ndarray
    translation: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        parents = np.array([max(p, 0) for p in self.rig.parents])
        offsets = self.rest - self.rest[parents]
        offsets[0] = 0.0
        return offsets

    def world(self) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (F, B, 3, 3) and bone head positions (F, B, 3)."""
        rotations = np.empty_like(self.local)
        positions = np.empty(self.local.shape[:2] + (3,))
        offsets = self.offsets
        for b, parent in enumerate(self.rig.parents):
            if parent < 0:
                rotations[:, b], positions[:, b] = self.local[:, b], self.translation
            else:
                rotations[:, b] = rotations[:, parent] @ self.local[:, b]
                positions[:, b] = positions[:, parent] + rotations[:, parent] @ offsets[b]
        return rotations, positions


def retarget(rig: Rig, rest_joints: np.ndarray, floor: float, local: np.ndarray,
             root: np.ndarray) -> RiggedMotion:
    """SMPL-24 motion (local rotations (F, 24, 3, 3) relative to the rest skeleton `rest_joints` (24, 3),
    pelvis at the origin; pelvis positions `root` (F, 3)) on `rig`; `floor` is the rest soles' height
    (used by a rig with a floor root only)."""
    rest_joints = np.asarray(rest_joints, float)
    posed_rest = _t_posed(rest_joints) if rig.t_pose else rest_joints
    correction = _corrections(rest_joints, posed_rest)
    smpl_world = np.empty_like(local)
    for j, parent in enumerate(SMPL_24_PARENTS):
        smpl_world[:, j] = local[:, j] if parent < 0 else smpl_world[:, parent] @ local[:, j]

    names, parents = rig.names, rig.parents
    rest = np.zeros((len(names), 3))
    world = np.empty((len(local), len(names), 3, 3))
    for b, bone in enumerate(rig.bones):
        if bone.joint is not None:
            j = SMPL_24.index(bone.joint)
            rest[b], world[:, b] = posed_rest[j], smpl_world[:, j] @ correction[j]
        elif parents[b] < 0:
            rest[b], world[:, b] = (0.0, floor, 0.0), np.eye(3)
        else:
            child = parents.index(b)
            rest[b] = rest[parents[b]] + bone.fraction * (_head(rig, child, posed_rest) - rest[parents[b]])
            world[:, b] = world[:, parents[b]]
    rigged = np.empty_like(world)
    for b, parent in enumerate(parents):
        rigged[:, b] = world[:, b] if parent < 0 else np.swapaxes(world[:, parent], -1, -2) @ world[:, b]
    return RiggedMotion(rig, rest, rigged, np.asarray(root, float) + rest[0])


def _head(rig: Rig, bone: int, posed_rest: np.ndarray) -> np.ndarray:
    """The rest head of a bone that has an SMPL joint (the child of an in-between bone)."""
    return posed_rest[SMPL_24.index(rig.bones[bone].joint)]


def _t_posed(rest_joints: np.ndarray) -> np.ndarray:
    """The rest skeleton with its arm and leg bones straightened into a T-pose, lengths kept."""
    out = rest_joints.copy()
    for j, parent in enumerate(SMPL_24_PARENTS):
        if parent >= 0:
            bone = rest_joints[j] - rest_joints[parent]
            direction = _T_POSE_DIRECTIONS.get(SMPL_24[j])
            out[j] = out[parent] + (np.linalg.norm(bone) * np.array(direction) if direction else bone)
    return out


def _corrections(rest_joints: np.ndarray, posed_rest: np.ndarray) -> np.ndarray:
    """Per SMPL joint, the rotation (24, 3, 3) turning its bone to its child from the new rest into the
    fitted rest (identity where the child's bone is unchanged; a leaf takes its parent's), so that the
    rig's world rotation is the source's times it."""
    from scipy.spatial.transform import Rotation

    out = np.tile(np.eye(3), (len(SMPL_24), 1, 1))
    for j in range(len(SMPL_24)):
        children = [c for c, p in enumerate(SMPL_24_PARENTS) if p == j]
        if len(children) == 1:
            c = children[0]
            source, target = rest_joints[c] - rest_joints[j], posed_rest[c] - posed_rest[j]
            if not np.allclose(source, target):
                out[j] = Rotation.align_vectors(source[None], target[None])[0].as_matrix()
        elif not children:
            out[j] = out[SMPL_24_PARENTS[j]]
    return out
