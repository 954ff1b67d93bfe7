"""Backends of the learned components: one table, one way to pick one, one way to build one.

Each component (a person tracker, a segmenter, a pose estimator, optical flow, ...) has a protocol
in `vidcli.backends.protocols` and one module per backend. A row of the table names the backend, the
class that implements it (as "module:Class", imported only when the backend is built, so that
planning stays light), the checkpoints and packages it needs, whether it needs a GPU, its licence,
and what it records beyond the component's own output (`provides`) or reads from an upstream stage
beyond that stage's own output (`needs`). The stage whose `COMPONENT` names a component reads its
`backend` setting from the table; `resolve` turns `auto` into a concrete name when the plan is
made, so the artifact key and the manifest name what ran.

Adding a backend is one module and one `register(Backend(...))` call (the built-in rows are below).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from vidcli.errors import ConfigError

EMBEDDED, FULL = "embedded", "full"


@dataclass(frozen=True)
class Backend:
    component: str
    name: str
    implementation: Any  # "module:Class", or the class itself; called with the stage's config
    kind: str = EMBEDDED  # embedded: offline, on the CPU, from what packages ship; full: a research model
    description: str = ""
    license: str = ""
    checkpoints: tuple[str, ...] = ()  # registry names (vidcli.models.registry) it loads
    packages: tuple[str, ...] = ()  # import names of the extra packages it needs
    extra: str | None = None  # the pip extra that installs those packages
    needs_gpu: bool = False  # `auto` picks it only where a GPU is visible
    runs_on_gpu: bool = False  # a `device: auto` setting puts it on a visible GPU
    provides: tuple[str, ...] = ()  # outputs it records beyond the component's own
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (input port, outputs of that stage's backend)

    def build(self, *args, **kwargs):
        """An instance of the backend's class: `Class(config, ...)` as its component's protocol says."""
        implementation = self.implementation
        if isinstance(implementation, str):
            module, _, name = implementation.partition(":")
            implementation = getattr(importlib.import_module(module), name)
        return implementation(*args, **kwargs)

    def missing(self, gpu: bool = True, registry_checkpoints: bool = True) -> list[str]:
        """What keeps this backend from running here: absent packages, checkpoints of the registry (unless
        the stage gives its own), and (with `gpu`) a GPU it needs."""
        from vidcli.devices import visible_gpu_count
        from vidcli.models import registry

        lacking = [f"package {p} (pip install 'vidcli[{self.extra}]')" for p in self.packages
                   if importlib.util.find_spec(p) is None]
        lacking += [f"checkpoint {c} (vidcli models download {c})" for c in self.checkpoints
                    if registry_checkpoints and not registry.is_present(c)]
        if gpu and self.needs_gpu and not visible_gpu_count():
            lacking.append("a GPU")
        return lacking


_TABLE: dict[str, dict[str, Backend]] = {}


def register(backend: Backend) -> Backend:
    """Add a backend (or replace one of the same component and name)."""
    _TABLE.setdefault(backend.component, {})[backend.name] = backend
    return backend


def unregister(component: str, name: str) -> None:
    _TABLE.get(component, {}).pop(name, None)


def table() -> dict[str, dict[str, Backend]]:
    """Every registered backend, by component and name (the built-in rows in the order auto tries them)."""
    return _TABLE


def names(component: str) -> tuple[str, ...]:
    return tuple(_TABLE.get(component, ()))


def choices(component: str):
    """The allowed values of a `backend` setting, computed when asked (tests register their own)."""
    return lambda: ("auto", *names(component))


def get(component: str, name: str) -> Backend:
    try:
        return _TABLE[component][name]
    except KeyError:
        known = ", ".join(names(component))
        raise ConfigError(f"unknown {component} backend {name!r}; known: {known}") from None


def resolve(component: str, requested: str, own_checkpoint: bool = False) -> tuple[str, str]:
    """(backend name, why) for a `backend` setting: `auto` is the first full backend whose packages,
    checkpoints and GPU are all here, else the embedded one; a named backend needs its packages and
    checkpoints (not a GPU: the user chose to wait). With `own_checkpoint` (the stage names a checkpoint
    file) the registry's checkpoints are not needed."""
    from vidcli.console import log

    if requested != "auto":
        backend = get(component, requested)
        lacking = backend.missing(gpu=False, registry_checkpoints=not own_checkpoint)
        if lacking:
            raise ConfigError(f"{component} backend {requested} needs {', '.join(lacking)}")
        return requested, "chosen"
    skipped = []
    for backend in _TABLE.get(component, {}).values():
        if backend.kind == FULL:
            lacking = backend.missing(registry_checkpoints=not own_checkpoint)
            if not lacking:
                return backend.name, "auto: its checkpoints are here"
            skipped.append(f"{backend.name} needs {', '.join(lacking)}")
    embedded = embedded_name(component)
    why = "auto: " + ("; ".join(skipped) if skipped else "the embedded backend")
    if skipped:
        log.debug("%s: using the %s backend (%s)", component, embedded, "; ".join(skipped))
    return embedded, why


def embedded_name(component: str) -> str:
    """The component's embedded backend, which `auto` falls back to."""
    embedded = [b.name for b in _TABLE.get(component, {}).values() if b.kind == EMBEDDED]
    if not embedded:
        raise ConfigError(f"no embedded {component} backend is registered")
    return embedded[0]


def device(backend: Backend, requested: str) -> str:
    """The concrete device of a `device` setting (auto | cpu | cuda) for a backend: cuda for `auto` where
    the backend runs on a GPU and one is visible; backends that never use a GPU run on the CPU."""
    from vidcli.devices import concrete_device

    return concrete_device(requested) if backend.runs_on_gpu else "cpu"


DEVICES = ("auto", "cpu", "cuda")


def check_compatible(stage: str, backend: Backend, upstream: dict[str, Backend | None]) -> None:
    """Refuse a plan where `backend` of `stage` reads outputs that the backend of an upstream port
    does not record (`upstream`: port -> the backend of the stage bound to it, None if it has none)."""
    for port, outputs in backend.needs:
        source = upstream.get(port)
        lacking = [o for o in outputs if source is None or o not in source.provides]
        if lacking:
            by = f"the {source.component} backend {source.name}" if source else f"the {port} input"
            raise ConfigError(f"{stage} backend {backend.name} reads the {', '.join(lacking)} that "
                              f"{by} does not record; choose backends that fit (vidcli settings)")


# The built-in rows. The embedded backends come first in each component: auto falls back to them.
_BUILTIN = [
    Backend("track", "embedded", "vidcli.backends.blazepose_tracker:BlazePoseTracker",
            description="mediapipe BlazePose detector and landmarker, ByteTrack-style linking",
            license="Apache-2.0 (mediapipe models)", provides=("landmarks", "silhouettes")),
    Backend("track", "yolo", "vidcli.backends.yolo_tracker:YoloTracker", kind=FULL,
            description="ultralytics YOLO people (track.yolo_model) linked by ultralytics' ByteTrack or "
                        "BoT-SORT (track.yolo_tracker)", license="AGPL-3.0 (ultralytics and its checkpoints)",
            checkpoints=("yolov8x",), packages=("ultralytics", "lap"), extra="yolo", needs_gpu=True,
            runs_on_gpu=True),
    Backend("masks", "embedded", "vidcli.backends.recorded_silhouettes:RecordedSilhouettes",
            description="the silhouettes the embedded tracker recorded", license="Apache-2.0",
            needs=(("track", ("silhouettes",)),)),
    Backend("masks", "sam", "vidcli.backends.sam_segmenter:SamSegmenter", kind=FULL,
            description="segment-anything SamPredictor, one box prompt per tracked person (masks.sam_model)",
            license="Apache-2.0 (segment-anything and its checkpoints)", checkpoints=("sam_vit_b",),
            packages=("segment_anything",), extra="sam", runs_on_gpu=True),
    Backend("keypoints", "embedded", "vidcli.backends.recorded_landmarks:RecordedLandmarks",
            description="the BlazePose-33 landmarks the embedded tracker recorded", license="Apache-2.0",
            provides=("world3d",), needs=(("track", ("landmarks",)),)),
    Backend("keypoints", "vitpose", "vidcli.backends.vitpose_estimator:VitPoseEstimator", kind=FULL,
            description="transformers' ViTPose, top-down on the track boxes: COCO-17 or COCO-WholeBody-133 "
                        "pixels, no 3D", license="Apache-2.0 (transformers and the checkpoint)",
            checkpoints=("vitpose_base",), packages=("transformers",), extra="vitpose", runs_on_gpu=True),
    Backend("flow", "dis", "vidcli.backends.dis:DisFlow", description="OpenCV Dense Inverse Search",
            license="Apache-2.0 (OpenCV)"),
    Backend("flow", "raft", "vidcli.backends.raft:RaftFlow", kind=FULL,
            description="RAFT large (torchvision)", license="BSD-3-Clause", checkpoints=("raft_large",),
            packages=("torchvision",), extra="raft", runs_on_gpu=True),
    Backend("camera", "embedded", "vidcli.backends.dense_ba:DenseBundleAdjustment",
            description="keyframes, flow correspondences without people, dense bundle adjustment",
            license="Apache-2.0"),
    Backend("camera", "droid", "vidcli.backends.droid:DroidCamera", kind=FULL,
            description="DROID-SLAM's tracking and update operator, vidcli's dense BA",
            license="BSD-3-Clause", checkpoints=("droid",), runs_on_gpu=True),
    Backend("scale", "embedded", "vidcli.backends.people_scale:PeopleScale",
            description="people's metric keypoints (2D-only keypoints: an average adult's) standing on the "
                        "reconstructed ground", license="Apache-2.0"),
    Backend("scale", "depth", "vidcli.backends.depth_scale:DepthScale", kind=FULL,
            description="metric depth network per keyframe (ZoeDepth, Depth Anything V2 metric, Depth Pro; "
                        "transformers), TRAM's robust depth-ratio fit",
            license="per network (docs/backends.md)",
            checkpoints=("zoedepth_nyu",), packages=("transformers",), extra="depth", runs_on_gpu=True),
    Backend("body", "embedded", "vidcli.backends.landmark_fit:LandmarkFit",
            description="body model fitted to 2D keypoints and metric 3D landmarks, or to 2D keypoints alone "
                        "under a motion-capture pose prior", license="Apache-2.0"),
    Backend("body", "hmr2", "vidcli.backends.hmr2_regression:Hmr2Regression", kind=FULL,
            description="HMR2.0 (ViT-H/16 + transformer decoder) regresses SMPL from each box's crop; needs "
                        "body=smpl and your SMPL files", license="MIT (4D-Humans)", checkpoints=("hmr2",),
            packages=("smplx",), extra="smpl", needs_gpu=True, runs_on_gpu=True),
    Backend("body", "vimo", "vidcli.backends.vimo_regression:VimoRegression", kind=FULL,
            description="TRAM's VIMO: HMR2.0 plus temporal transformers over 16-frame windows of each track; "
                        "needs body=smpl and your SMPL files", license="MIT (TRAM)", checkpoints=("vimo",),
            packages=("smplx",), extra="smpl", needs_gpu=True, runs_on_gpu=True),
    Backend("prior", "embedded", "vidcli.backends.smoothness:SmoothnessPrior",
            description="acceleration penalties of the pelvis and the limbs", license="Apache-2.0"),
    Backend("prior", "humor", "vidcli.backends.humor_prior:HumorPrior", kind=FULL,
            description="HuMoR's CVAE: prior log-likelihood of each frame-to-frame transition",
            license="MIT", checkpoints=("humor",)),
    Backend("animation", "embedded", "vidcli.backends.puppet:PuppetAnimator",
            description="ARAP mesh puppet of the reference person", license="Apache-2.0"),
    Backend("animation", "diffusion", "vidcli.backends.animatediff:AnimateDiffAnimator", kind=FULL,
            description="AnimateDiff + ControlNet-OpenPose + IP-Adapter (diffusers)",
            license="CreativeML-OpenRAIL-M (SD 1.5), Apache-2.0 (diffusers)",
            checkpoints=("sd15", "controlnet_openpose", "animatediff_motion_adapter", "ip_adapter_sd15"),
            packages=("diffusers", "transformers"), extra="diffusion", needs_gpu=True, runs_on_gpu=True),
    Backend("inpainting", "embedded", "vidcli.backends.flow_guided:FlowGuidedInpainter",
            description="flow completion, propagation along the flow, Telea/NS spatial fill",
            license="Apache-2.0 (OpenCV)"),
    Backend("inpainting", "sttn", "vidcli.backends.sttn:STTNInpainter", kind=FULL,
            description="STTN spatial-temporal transformer (Zeng et al. 2020), the authors' YouTube-VOS "
                        "weights",
            license="MIT (code and weights)", checkpoints=("sttn",),
            needs_gpu=True, runs_on_gpu=True),
    Backend("inpainting", "diffusion", "vidcli.backends.diffusion_inpaint:DiffusionInpainter", kind=FULL,
            description="SD 1.5 inpainting (diffusers) on keyframes, propagated along the flow",
            license="CreativeML-OpenRAIL-M (SD 1.5 inpainting), Apache-2.0 (diffusers)",
            checkpoints=("sd15_inpainting",), packages=("diffusers", "transformers"), extra="diffusion",
            needs_gpu=True, runs_on_gpu=True),
    Backend("inpainting", "diffusion_sd2", "vidcli.backends.diffusion_inpaint:DiffusionInpainter", kind=FULL,
            description="SD 2 inpainting (diffusers) on keyframes, propagated along the flow",
            license="CreativeML-OpenRAIL++-M (SD 2 inpainting), Apache-2.0 (diffusers)",
            checkpoints=("sd2_inpainting",), packages=("diffusers", "transformers"), extra="diffusion",
            needs_gpu=True, runs_on_gpu=True),
]
for _row in _BUILTIN:
    register(_row)
