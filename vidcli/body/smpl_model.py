"""SMPL and SMPL-X (through the `smplx` package) on the SMPL-24 skeleton; shape = 10 betas.

The model files are the user's (they are licensed and never bundled): `SMPL_<GENDER>.pkl` or `.npz`,
`SMPLX_<GENDER>.npz` or `.pkl`, in a folder or its `smpl/` / `smplx/` subfolder (the layout smplx
documents). Every file is read here, never unpickled as it is: `.npz` without pickle, `.pkl` by a
restricted unpickler that admits only arrays, sparse matrices and chumpy arrays; smplx gets the arrays.
SMPL-X has no SMPL hand joints: joints 22 and 23 of the skeleton are
its middle-finger bases, the fingers stay flat and follow the wrists, and jaw and eyes follow the head.
Meshes are posed by smplx (with pose blend shapes); GLB skinning uses the plain skinning weights.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import torch

from vidcli.body.kinematics import matrix_to_axis_angle
from vidcli.body.safe_pickle import load_model_pickle
from vidcli.body.skeletons import BLAZEPOSE_33, SMPL_24, SMPL_24_PARENTS, knuckle_vertex
from vidcli.errors import ConfigError, InputError

NUM_BETAS = 10
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPLX_KEYS = SMPL_KEYS + ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr",
                          "lmk_faces_idx", "lmk_bary_coords")
# BlazePose landmarks that are skeleton joints, and those that are smplx's named vertices.
_JOINT_LANDMARKS = {
    f"{side}_{joint}": f"{side}_{smpl}" for side in ("left", "right")
    for joint, smpl in (("shoulder", "shoulder"), ("elbow", "elbow"), ("wrist", "wrist"), ("hip", "hip"),
                        ("knee", "knee"), ("ankle", "ankle"))
}
_VERTEX_LANDMARKS = {
    "nose": "nose", "left_eye": "leye", "right_eye": "reye", "left_ear": "lear", "right_ear": "rear",
    "left_heel": "LHeel", "right_heel": "RHeel", "left_foot_index": "LBigToe", "right_foot_index": "RBigToe",
    "left_thumb": "lthumb", "right_thumb": "rthumb", "left_index": "lindex", "right_index": "rindex",
    "left_pinky": "lpinky", "right_pinky": "rpinky",
}
_SMPLX_HAND_BASES = (28, 43)  # left_middle1, right_middle1 in smplx's joint order
_SMPLX_JAW_EYES = (22, 23, 24)


def find_model_file(kind: str, folder: str | Path, gender: str) -> Path:
    """The model file of `kind` (smpl | smplx) and `gender` in `folder`; a ConfigError names what lacks."""
    stem = f"{kind.upper()}_{gender.upper()}"
    folder = Path(folder).expanduser()
    candidates = [base / f"{stem}{ext}" for base in (folder, folder / kind) for ext in (".npz", ".pkl")]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise ConfigError(f"body model {kind}: no {stem}.npz or {stem}.pkl in {folder} (or {folder / kind}); "
                      "the SMPL / SMPL-X files are licensed and must be downloaded by you")


class SmplModel:
    """SMPL or SMPL-X loaded by smplx, viewed as SMPL-24 joints and BlazePose landmarks."""

    shape_labels = tuple(f"beta{i}" for i in range(NUM_BETAS))
    free_scale = np.ones(NUM_BETAS)

    def __init__(self, kind: str, model_file: str, gender: str):
        import smplx
        from smplx.vertex_ids import vertex_ids

        self.name = kind
        path = Path(model_file)
        quiet = contextlib.redirect_stdout(io.StringIO())  # smplx prints notes about the shape space size
        try:
            with quiet:
                self.layer = _make_layer(smplx, kind, path, gender)
        except (OSError, KeyError, ValueError, AttributeError) as error:
            raise InputError(f"{path}: not a usable {kind.upper()} model file ({error})") from None

        model_joints = self.layer.J_regressor.shape[0]
        parents = self.layer.parents.numpy()
        if model_joints < 22 or list(parents[1:22]) != list(SMPL_24_PARENTS[1:22]):
            raise InputError(f"{path}: its joint hierarchy is not the {kind.upper()} one")
        if kind == "smpl":
            self._skeleton = np.arange(len(SMPL_24))
            to_skeleton = np.arange(model_joints)
        else:
            self._skeleton = np.r_[np.arange(22), _SMPLX_HAND_BASES]
            to_skeleton = np.empty(model_joints, np.int64)
            to_skeleton[:22] = np.arange(22)
            to_skeleton[list(_SMPLX_JAW_EYES)] = SMPL_24.index("head")
            fingers = np.arange(25, model_joints)
            wrists = SMPL_24.index("left_wrist"), SMPL_24.index("right_wrist")
            to_skeleton[fingers] = np.where(fingers < 40, *wrists)
        weights = self.layer.lbs_weights.numpy()
        self._vertex_weights = np.zeros((len(weights), len(SMPL_24)))
        for joint in range(model_joints):
            self._vertex_weights[:, to_skeleton[joint]] += weights[:, joint]

        ids = vertex_ids["smplh" if kind == "smpl" else "smplx"]
        vertex_count = len(weights)
        self.landmark_valid = np.zeros(len(BLAZEPOSE_33), bool)
        self.landmark_weights = np.zeros((len(BLAZEPOSE_33), len(SMPL_24)))
        self._landmark_joint = np.zeros(len(BLAZEPOSE_33), np.int64)
        self._landmark_vertex = np.full(len(BLAZEPOSE_33), -1)
        for index, name in enumerate(BLAZEPOSE_33):
            if name in _JOINT_LANDMARKS:
                joint = SMPL_24.index(_JOINT_LANDMARKS[name])
                self._landmark_joint[index] = joint
                self.landmark_weights[index, joint] = 1.0
                self.landmark_valid[index] = True
            elif name in _VERTEX_LANDMARKS and ids[_VERTEX_LANDMARKS[name]] < vertex_count:
                vertex = ids[_VERTEX_LANDMARKS[name]]
                if name.endswith(("_thumb", "_index", "_pinky")):  # smplx names fingertips
                    vertex = self._knuckle(name.split("_")[0], vertex)
                self._landmark_vertex[index] = vertex
                self.landmark_weights[index] = self._vertex_weights[vertex]
                self.landmark_valid[index] = True
        self.faces = np.asarray(self.layer.faces, np.int64)

        regressor = self.layer.J_regressor[self._skeleton]  # (24, V)
        self._joint_template = regressor @ self.layer.v_template
        self._joint_dirs = torch.einsum("jv,vdb->jdb", regressor, self.layer.shapedirs)
        on_vertex = torch.from_numpy(self._landmark_vertex >= 0)
        vertex = torch.from_numpy(np.maximum(self._landmark_vertex, 0))
        self._on_vertex = on_vertex
        self._landmark_joint_t = torch.from_numpy(self._landmark_joint)
        self._vertex_template = self.layer.v_template[vertex]
        self._vertex_dirs = self.layer.shapedirs[vertex]

    def _knuckle(self, side: str, tip: int) -> int:
        """The template vertex nearest the knuckle of the finger that ends at vertex `tip`."""
        template = self.layer.v_template.numpy()
        wrist = (self.layer.J_regressor[SMPL_24.index(f"{side}_wrist")] @ self.layer.v_template).numpy()
        hand = np.flatnonzero(np.isin(self._vertex_weights.argmax(1),
                                      [SMPL_24.index(f"{side}_wrist"), SMPL_24.index(f"{side}_hand")]))
        return knuckle_vertex(template, hand, wrist, template[tip])

    def _absolute_rest(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        joints = self._joint_template + torch.einsum("jdb,b->jd", self._joint_dirs, betas)
        vertices = self._vertex_template + torch.einsum("vdb,b->vd", self._vertex_dirs, betas)
        landmarks = torch.where(self._on_vertex[:, None], vertices, joints[self._landmark_joint_t])
        return joints, landmarks

    def rest(self, free: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        joints, landmarks = self._absolute_rest(free)
        return joints - joints[0], landmarks[:, None, :] - joints[None, :, :]

    def shape(self, free: np.ndarray) -> np.ndarray:
        return np.asarray(free, float).copy()

    def free(self, shape: np.ndarray) -> np.ndarray:
        return np.asarray(shape, float).copy()

    def rest_pelvis(self, shape: np.ndarray) -> np.ndarray:
        """The pelvis of the shaped rest body in the model's own coordinates: SMPL's `transl` is the
        pelvis position minus this."""
        with torch.no_grad():
            return self._absolute_rest(torch.from_numpy(np.asarray(shape, float)))[0][0].numpy()

    def rest_mesh(self, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        betas = torch.from_numpy(np.asarray(shape, float))
        with torch.no_grad():
            vertices = self.layer.v_template + torch.einsum("vdb,b->vd", self.layer.shapedirs, betas)
        return vertices.numpy() - self.rest_pelvis(shape), self._vertex_weights

    def mesh(self, shape: np.ndarray, local: np.ndarray, root: np.ndarray) -> np.ndarray:
        frames = len(local)
        betas = torch.from_numpy(np.asarray(shape, float))
        pose = torch.from_numpy(matrix_to_axis_angle(local))  # (F, 24, 3)
        with torch.no_grad():
            transl = torch.from_numpy(np.asarray(root, float) - self.rest_pelvis(shape))
            common = {"betas": betas.expand(frames, -1), "global_orient": pose[:, 0], "transl": transl}
            if self.name == "smpl":
                out = self.layer(body_pose=pose[:, 1:].reshape(frames, -1), **common)
            else:
                rest = {name: torch.zeros(frames, size, dtype=torch.float64) for name, size in (
                    ("left_hand_pose", 45), ("right_hand_pose", 45), ("jaw_pose", 3), ("leye_pose", 3),
                    ("reye_pose", 3), ("expression", self.layer.num_expression_coeffs))}
                out = self.layer(body_pose=pose[:, 1:22].reshape(frames, -1), **common, **rest)
        return out.vertices.numpy().astype(np.float32)


def _make_layer(smplx, kind: str, path: Path, gender: str):
    """The smplx layer of a model file, whose arrays are read here without pickle's code execution:
    smplx itself would `pickle.load` a `.pkl` and `np.load(allow_pickle=True)` an SMPL-X `.npz`."""
    from smplx.utils import Struct

    arrays = _model_arrays(path)
    required = SMPL_KEYS if kind == "smpl" else SMPLX_KEYS
    missing = [key for key in required if key not in arrays]
    if missing:
        raise InputError(f"{path}: not an {kind.upper()} model file (it lacks {', '.join(missing)})")
    if kind == "smpl":
        return smplx.SMPL(str(path), data_struct=Struct(**{key: arrays[key] for key in SMPL_KEYS}),
                          gender=gender, num_betas=NUM_BETAS, dtype=torch.float64)
    with tempfile.TemporaryDirectory(prefix="vidcli-smplx-") as folder:  # smplx reads only a file path
        plain = Path(folder) / "model.npz"
        np.savez(plain, **arrays)  # numeric arrays only: smplx's allow_pickle has nothing to run
        return smplx.SMPLX(str(plain), ext="npz", gender=gender, num_betas=NUM_BETAS, use_pca=False,
                           flat_hand_mean=True, dtype=torch.float64)


def _model_arrays(path: Path) -> dict[str, np.ndarray]:
    """The numeric arrays of a model file: `.npz` read without pickle (object arrays are left out),
    `.pkl` through the restricted unpickler of `safe_pickle`."""
    if path.suffix == ".pkl":
        return load_model_pickle(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {}
            for key in data.files:
                with contextlib.suppress(ValueError):  # an object array would need pickle
                    arrays[key] = data[key]
            return arrays
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read ({error})") from None
