"""The Anny body model (cmu_mb rig) posed and shaped in vidcli's world frame.

Anny works in a z-up frame facing -y; vidcli's world is y-up facing +z (left is +x in both), so
`ANNY_TO_WORLD` maps one to the other. Anny builds a cache the first time a model is made (about
775 MB, about 3 minutes on 2 CPU cores); it lives with vidcli's other model files in `$VIDCLI_HOME/anny`
(default ~/.cache/vidcli/anny), or in `$ANNY_CACHE_DIR` (anny's own variable) when that is set. A
message on stderr says when the build starts; concurrent processes build it once. `load_body()` makes
the model once per process.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidcli.body.skeletons import JointMap, blazepose_map, smpl_map
from vidcli.console import log
from vidcli.engine.store import key_lock
from vidcli.models.registry import home

ANNY_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_CHUNK = 64  # frames per model evaluation


@dataclass(frozen=True)
class Phenotype:
    """Anny's phenotype parameters, each in [0, 1] (0.5 is average; gender 0 female, 1 male;
    age 0 is a baby, 1/3 about 25 years, 1 old)."""

    height: float = 0.5
    weight: float = 0.5
    age: float = 0.5
    gender: float = 0.5

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class RestBody:
    """A shaped body in its rest pose, world frame, hips head at the origin."""

    phenotype: Phenotype
    vertices: np.ndarray  # (V, 3)
    heads: np.ndarray  # (B, 3) bone heads
    tails: np.ndarray  # (B, 3) bone tails
    rotations: np.ndarray  # (B, 3, 3) Anny's rest bone orientations, in Anny's frame

    @property
    def height_m(self) -> float:
        return float(np.ptp(self.vertices[:, 1]))


def anny_cache_dir() -> Path:
    """Where Anny keeps the model data it builds: `$ANNY_CACHE_DIR` if set, else `$VIDCLI_HOME/anny`."""
    chosen = os.environ.get("ANNY_CACHE_DIR")
    return Path(chosen).expanduser() if chosen else home() / "anny"


def anny_cache_is_built(cache_dir: Path) -> bool:
    """Whether `cache_dir` holds the model data of the installed anny's data version (anny keys its
    files by a hash of the build arguments; vidcli builds one model, so any such file is ours)."""
    from anny.models.model_data import CURRENT_DATA_VERSION

    return any((cache_dir / f"v{CURRENT_DATA_VERSION}").glob("build_compact_model_data_*.safetensors"))


def make_anny(cache_dir: Path):
    """Anny's cmu_mb model, its data loaded from `cache_dir` or built into it. One process at a time
    builds (the others wait for it, then load), and says first what it builds, before anny goes quiet
    for minutes."""
    import anny
    from anny.paths import set_anny_cache_path

    set_anny_cache_path(cache_dir)
    if anny_cache_is_built(cache_dir):
        return anny.Anny(rig="cmu_mb")
    cache_dir.mkdir(parents=True, exist_ok=True)
    waiting = functools.partial(log.info, "waiting for another process building the Anny body model's "
                                "cache in %s", cache_dir)
    with key_lock(cache_dir, "build", on_wait=waiting):
        if not anny_cache_is_built(cache_dir):
            log.info("building the Anny body model's cache in %s, once: about 775 MB, about 3 minutes on "
                     "2 CPU cores (set ANNY_CACHE_DIR or VIDCLI_HOME to put it elsewhere)", cache_dir)
        return anny.Anny(rig="cmu_mb")


class AnnyBody:
    """Anny with the cmu_mb rig (31 bones named as the CMU MotionBuilder BVH skeleton)."""

    def __init__(self):
        import warp

        warp.config.log_level = logging.WARNING  # anny skins with NVIDIA Warp: keep its banner off the console
        import torch

        self._torch = torch
        self.model = make_anny(anny_cache_dir())
        self.bone_names: list[str] = list(self.model.bone_labels)
        self.parents: list[int] = [int(p) for p in self.model.bone_parents]
        self.faces = self.model.get_triangular_faces().numpy().astype(np.int32)
        weights = self.model.vertex_bone_weights.numpy()
        indices = self.model.vertex_bone_indices.numpy()
        self.vertex_bone = indices[np.arange(len(indices)), np.argmax(weights, axis=1)]
        rest = self.rest(Phenotype())
        self.smpl: JointMap = smpl_map(self.bone_names)
        self.blazepose: JointMap = blazepose_map(self.bone_names, rest.vertices, self.vertex_bone)

    def rest(self, phenotype: Phenotype) -> RestBody:
        """The rest (A-)pose of a body of `phenotype`."""
        with self._torch.no_grad():
            out = self.model(phenotype_kwargs=phenotype.as_dict())
        origin = out["rest_bone_heads"][0, 0].numpy()
        to_world = lambda points: (points[0].numpy() - origin) @ ANNY_TO_WORLD.T  # noqa: E731
        return RestBody(phenotype, to_world(out["rest_vertices"]), to_world(out["rest_bone_heads"]),
                        to_world(out["rest_bone_tails"]), out["rest_bone_poses"][0, :, :3, :3].numpy())

    def pose(self, rest: RestBody, rotations: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posed vertices (F, V, 3) float32 and bone heads (F, B, 3), world frame.

        `rotations` (F, B, 3, 3): each bone's world rotation away from its rest orientation;
        `root` (F, 3): where the hips head goes.
        """
        torch = self._torch
        anny_rotations = ANNY_TO_WORLD.T @ rotations @ ANNY_TO_WORLD
        deltas = np.zeros(rotations.shape[:2] + (4, 4))
        deltas[..., :3, :3] = anny_rotations @ rest.rotations
        deltas[..., 3, 3] = 1.0
        vertices, heads = [], []
        with torch.no_grad():
            for start in range(0, len(deltas), _CHUNK):
                out = self.model(torch.from_numpy(deltas[start:start + _CHUNK]),
                                 phenotype_kwargs=rest.phenotype.as_dict(), pose_parameterization="world-orient")
                origin = out["bone_poses"][:, :1, :3, 3]
                vertices.append(((out["vertices"] - origin).numpy() @ ANNY_TO_WORLD.T).astype(np.float32))
                heads.append((out["bone_poses"][:, :, :3, 3] - origin).numpy() @ ANNY_TO_WORLD.T)
        vertices, heads = np.concatenate(vertices), np.concatenate(heads)
        vertices += root[:, None, :].astype(np.float32)
        return vertices, heads + root[:, None, :]


@functools.lru_cache(maxsize=1)
def load_body() -> AnnyBody:
    """The process-wide Anny body model (made once; the first one ever fills anny's cache)."""
    return AnnyBody()
