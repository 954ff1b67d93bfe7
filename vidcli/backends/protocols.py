"""What a backend of each component provides. Every backend is built as `Class(config, ...)` from its
stage's config (and the arguments named below), and has `model` and `checksum` for the manifest
(None where nothing but code is used); its name is its row's in the table (`vidcli.backends`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np


class Described(Protocol):
    model: str | None
    checksum: str | None


class PersonTracker(Described, Protocol):
    """component "track", built as `Class(config)`."""

    def track(self, frames, out_dir: Path, advance: Callable[[], None]):
        """The `vidcli.io.tracks.Tracks` of a `FrameSequence`: rows sorted by frame, ids 1, 2, ... in order
        of first appearance; whatever the backend `provides` is written into `out_dir`."""


class Segmenter(Described, Protocol):
    """component "masks", built as `Class(config, frames, tracks, track_dir, keypoints)`: `keypoints` the
    `vidcli.io.keypoints.Keypoints` of the tracked people where the pipeline has them, else None."""

    def masks(self, frame: int, rows: np.ndarray) -> list[np.ndarray]:
        """The (H, W) bool mask of each given row of the track table, all in `frame`."""


class PoseEstimator(Described, Protocol):
    """component "keypoints", built as `Class(config, frames, tracks, track_dir)`."""

    layout: str  # the keypoint layout, e.g. "blazepose33" (docs/formats.md)

    def keypoints(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), K, 3) pixel keypoints with visibility and (len(rows), K, 3) metric, root-relative
        3D points in camera axes (NaN where the estimator gives none) of the given rows of the track table."""


class FlowEstimator(Described, Protocol):
    """component "flow", built as `Class(config)` from a config with `dis_preset`, `device` and, where
    the stage has it, `dis_finest_scale`."""

    def prepare(self, rgb: np.ndarray):
        """The image in the estimator's own form, computed once per frame."""

    def flow(self, first, second) -> np.ndarray:
        """(H, W, 2) flow (u, v in pixels) from one prepared image to another."""


class CameraSolver(Described, Protocol):
    """component "camera", built as `Class(config)`."""

    def solve(self, read: Callable[[int], tuple[np.ndarray, np.ndarray | None]], count: int,
              size: tuple[int, int], fps: float, K: np.ndarray, calibrate: bool, advance: Callable[[], None]):
        """The `vidcli.slam.tracker.SlamResult` of `count` frames at `fps`; `read(i)` gives frame i's
        working RGB image (`size` = width, height) and people mask (or None), `K` the working intrinsics
        (a starting point when `calibrate`)."""


class ScaleEstimator(Described, Protocol):
    """component "scale", built as `Class(config)`."""

    reads_images: bool  # whether `samples` reads frame images (the stage reads the frames only then)

    def samples(self, camera, depth: dict, keypoints, read: Callable[[int], np.ndarray] | None = None
                ) -> list[float]:
        """Independent estimates of the metric scale of a moving camera's trajectory (metres per unit);
        `read(i)` gives frame i's RGB image where the estimator `reads_images`."""


class BodyEstimator(Described, Protocol):
    """component "body", built as `Class(config, body_model)` with the loaded body model
    (`vidcli.body.models.BodyModel`)."""

    reads_images: bool  # whether `fit` reads the frame images and track boxes (read only then)

    def fit(self, frames: np.ndarray, keypoints2d: np.ndarray, world3d: np.ndarray, K: np.ndarray,
            images: Iterator[np.ndarray], boxes: np.ndarray):
        """The `vidcli.mocap.fitting.TrackFit` of one track's rows (sorted by frame): their keypoints and,
        where `reads_images`, the RGB frame image of each row (read lazily) and its track box (F, 4), else
        None. None where the backend cannot estimate the track (VIMO: no 16 consecutive frames); a
        TrackFit may cover only some of the rows."""


class MotionPrior(Described, Protocol):
    """component "prior", built as `Class(config, fps)`: a term of the world optimisation."""

    def energy(self, root, joints, consecutive, local=None):
        """A torch scalar: how implausible the (F, 3) pelvis path, (F, 24, 3) SMPL-24 joints and
        (F, 24, 3, 3) local joint rotations `local` (joint 0's: the root orientation) are, y-up world;
        `consecutive` (F - 1,) marks frame pairs that follow each other. A prior may ignore `local`."""

    def contacts(self, root, joints, local):
        """(F, 2, 2) bool numpy array: the left/right foot's heel/toe the prior finds in contact, which the
        world stage adds to those it detects; None when the prior predicts none."""


class Animator(Described, Protocol):
    """component "animation", built as `Class(config)`."""

    def frames(self, rgb: np.ndarray, mask: np.ndarray, ref_keypoints: np.ndarray, keypoints: np.ndarray,
               depth: np.ndarray) -> Iterator[np.ndarray]:
        """The video's RGB frames: the reference image `rgb` (with its person `mask`, float 0-1, and
        OpenPose-18 `ref_keypoints`) moved to each frame's `keypoints`; `depth` orders limbs per frame."""

    def counts(self) -> dict:
        """What the manifest reports of the last `frames` call."""


class VideoInpainter(Described, Protocol):
    """component "inpainting", built as `Class(config)`."""

    def inpaint(self, video, write: Callable[[int, np.ndarray], None]) -> None:
        """Fill the holes of a `vidcli.inpaint.video.HoleVideo`, calling `write(index, rgb)` for every
        frame in order, with a bounded number of frames in memory; the stage keeps the pixels outside
        the holes as they were."""

    def counts(self) -> dict:
        """What the manifest reports of the last `inpaint` call."""
