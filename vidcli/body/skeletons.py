"""The shared skeletons (BlazePose-33, COCO-17, COCO-WholeBody-133, SMPL-24) and how to read them off an
Anny cmu_mb body.

A `JointMap` says, for each joint of a target skeleton, which rig bone head or which mesh vertex
gives its position, and whether that joint has a body equivalent at all (`valid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLAZEPOSE_33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)

COCO_17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
# COCO-WholeBody: the COCO body, the feet, the 68 face points of 300-W (0-based, subject's right first)
# and 21 points per hand (0 wrist, 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 pinky, base first).
WHOLEBODY_133 = (
    *COCO_17, "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
    *(f"face_{i}" for i in range(68)), *(f"left_hand_{i}" for i in range(21)),
    *(f"right_hand_{i}" for i in range(21)),
)
# Keypoint layouts a keypoints artifact may be in (docs/formats.md), by the name it records.
LAYOUTS = {"blazepose33": BLAZEPOSE_33, "coco17": COCO_17, "wholebody133": WHOLEBODY_133}
# BlazePose landmarks that other layouts name differently: the big toe is BlazePose's foot index, its hand
# points are knuckles, its eye and mouth corners are 300-W face points.
_BLAZEPOSE_ALIASES = {
    **{f"{side}_{name}": f"{side}_{alias}" for side in ("left", "right")
       for name, alias in (("foot_index", "big_toe"), ("pinky", "hand_17"), ("index", "hand_5"),
                           ("thumb", "hand_2"))},
    "right_eye_outer": "face_36", "right_eye_inner": "face_39", "left_eye_inner": "face_42",
    "left_eye_outer": "face_45", "mouth_right": "face_48", "mouth_left": "face_54",
}


def layout_names(layout: str) -> tuple[str, ...]:
    """The keypoint names of a layout, in order; a ValueError names the known layouts."""
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise ValueError(f"unknown keypoint layout {layout!r}; known: {', '.join(LAYOUTS)}") from None


def blazepose_sources(layout: str) -> np.ndarray:
    """(33,) the index in `layout` of each BlazePose landmark, -1 where the layout has none."""
    names = layout_names(layout)
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(name, index.get(_BLAZEPOSE_ALIASES.get(name, ""), -1))
                     for name in BLAZEPOSE_33])


def as_blazepose33(points: np.ndarray, layout: str) -> np.ndarray:
    """Points (..., K, D) of `layout` as BlazePose-33 (..., 33, D): NaN where the layout has no such point."""
    sources = blazepose_sources(layout)
    out = np.full((*points.shape[:-2], len(BLAZEPOSE_33), points.shape[-1]), np.nan)
    out[..., sources >= 0, :] = points[..., sources[sources >= 0], :]
    return out


def indices(layout: str, names) -> np.ndarray:
    """The indices in `layout` of those of `names` it has, in the order of `names`."""
    order = layout_names(layout)
    return np.array([order.index(name) for name in names if name in order], np.int64)


SMPL_24 = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
SMPL_24_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# SMPL joint -> the cmu_mb bone whose head sits at it.
_SMPL_BONES = {
    "pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1", "neck": "Neck",
    "head": "Head",
    **{f"{side}_{joint}": f"{bone_side}{bone}" for side, bone_side in (("left", "Left"), ("right", "Right"))
       for joint, bone in (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"),
                           ("collar", "Shoulder"), ("shoulder", "Arm"), ("elbow", "ForeArm"),
                           ("wrist", "Hand"), ("hand", "FingerBase"))},
}
# BlazePose landmarks that are rig joints.
_BLAZEPOSE_BONES = {
    f"{side}_{joint}": f"{bone_side}{bone}" for side, bone_side in (("left", "Left"), ("right", "Right"))
    for joint, bone in (("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"), ("hip", "UpLeg"),
                        ("knee", "Leg"), ("ankle", "Foot"))
}
# Face landmarks: (lateral offset from the midline towards the named side, height above the nose
# tip) in metres on an adult head; the surface vertex facing forwards there is the landmark.
_FACE_POINTS = {
    "eye_inner": (0.017, 0.035), "eye": (0.032, 0.037), "eye_outer": (0.047, 0.035),
    "mouth": (0.024, -0.035),
}


# BlazePose's hand points are the knuckles, not the fingertips: on the benchmark's clips its index and
# pinky points lie 0.30 of the forearm's length (about 7 cm) from the wrist in the image, its thumb 0.21.
KNUCKLE_FRACTION = 0.5  # of the way from the wrist to the fingertip


def knuckle_vertex(vertices: np.ndarray, candidates: np.ndarray, wrist: np.ndarray, tip: np.ndarray) -> int:
    """The vertex among `candidates` nearest the knuckle of the finger from `wrist` to `tip` (rest mesh)."""
    knuckle = wrist + KNUCKLE_FRACTION * (tip - wrist)
    return int(candidates[np.argmin(np.linalg.norm(vertices[candidates] - knuckle, axis=1))])


@dataclass(frozen=True)
class JointMap:
    """Positions of a target skeleton's joints from bone heads (`bone` >= 0) or vertices (`vertex` >= 0)."""

    names: tuple[str, ...]
    bone: np.ndarray
    vertex: np.ndarray
    valid: np.ndarray

    def positions(self, bone_heads: np.ndarray, vertices: np.ndarray) -> np.ndarray:
        """(..., len(names), 3) joint positions; invalid joints are NaN."""
        from_bones = bone_heads[..., np.maximum(self.bone, 0), :]
        from_vertices = vertices[..., np.maximum(self.vertex, 0), :]
        out = np.where((self.bone >= 0)[:, None], from_bones, from_vertices)
        return np.where(self.valid[:, None], out, np.nan)


def smpl_map(bone_names: list[str]) -> JointMap:
    """SMPL-24 from cmu_mb bone heads (every joint has one)."""
    bone = np.array([bone_names.index(_SMPL_BONES[name]) for name in SMPL_24])
    return JointMap(SMPL_24, bone, np.full(len(SMPL_24), -1), np.ones(len(SMPL_24), bool))


def blazepose_map(bone_names: list[str], rest_vertices: np.ndarray, vertex_bone: np.ndarray) -> JointMap:
    """BlazePose-33 from cmu_mb bone heads (limb joints) and surface vertices (face, hands, feet).

    `rest_vertices` (V, 3) is a rest mesh in the world frame (y up, facing +z, left +x) and
    `vertex_bone` (V,) each vertex's most weighted bone; the vertex choices depend on the mesh
    topology only, so one rest mesh serves every phenotype.
    """
    count = len(BLAZEPOSE_33)
    bone, vertex = np.full(count, -1), np.full(count, -1)
    valid = np.ones(count, bool)
    for i, name in enumerate(BLAZEPOSE_33):
        if name in _BLAZEPOSE_BONES:
            bone[i] = bone_names.index(_BLAZEPOSE_BONES[name])

    def region(*bones: str) -> np.ndarray:
        return np.flatnonzero(np.isin(vertex_bone, [bone_names.index(b) for b in bones]))

    x, y, z = rest_vertices.T
    head = region("Head")
    nose = head[np.argmax(z[head])]
    vertex[BLAZEPOSE_33.index("nose")] = nose
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for point, (lateral, height) in _FACE_POINTS.items():
            target_x, target_y = x[nose] + sign * lateral, y[nose] + height
            near = head[(np.abs(x[head] - target_x) < 0.008) & (np.abs(y[head] - target_y) < 0.008)]
            name = f"mouth_{side}" if point == "mouth" else f"{side}_{point}"
            if len(near):
                vertex[BLAZEPOSE_33.index(name)] = near[np.argmax(z[near])]
            else:
                valid[BLAZEPOSE_33.index(name)] = False
        band = head[np.abs(y[head] - y[nose] - 0.02) < 0.02]
        vertex[BLAZEPOSE_33.index(f"{side}_ear")] = band[np.argmax(sign * x[band])]

        cap = side.capitalize()
        hand = region(f"{cap}Hand", f"{cap[0]}Thumb", f"{cap}FingerBase", f"{cap}HandFinger1")
        wrist = rest_vertices[region(f"{cap}Hand")].mean(axis=0)
        thumb = region(f"{cap[0]}Thumb")
        thumb_tip = thumb[np.argmax(np.linalg.norm(rest_vertices[thumb] - wrist, axis=1))]
        fingers = region(f"{cap}FingerBase", f"{cap}HandFinger1")
        reach = np.linalg.norm(rest_vertices[fingers] - wrist, axis=1)
        tips = fingers[reach > np.quantile(reach, 0.9)]
        from_thumb = np.linalg.norm(rest_vertices[tips] - rest_vertices[thumb_tip], axis=1)
        for name, tip in (("thumb", thumb_tip), ("index", tips[np.argmin(from_thumb)]),
                          ("pinky", tips[np.argmax(from_thumb)])):
            vertex[BLAZEPOSE_33.index(f"{side}_{name}")] = knuckle_vertex(rest_vertices, hand, wrist,
                                                                        rest_vertices[tip])

        foot = region(f"{cap}Foot", f"{cap}ToeBase")
        sole = foot[y[foot] < y[foot].min() + 0.03]
        vertex[BLAZEPOSE_33.index(f"{side}_heel")] = sole[np.argmin(z[sole])]
        vertex[BLAZEPOSE_33.index(f"{side}_foot_index")] = sole[np.argmax(z[sole])]
    return JointMap(BLAZEPOSE_33, bone, vertex, valid)
