"""mediapipe's bundled BlazePose models (0.10.14), driven through its own calculator graphs.

`mp.solutions.pose` runs the person detector and keeps only its best detection. Here the two
halves run separately: `PoseDetector` returns every detection of the detector subgraph, and
`PoseLandmarker` runs the landmark model (`full`, model_complexity 1, the one bundled in the wheel, or
`heavy`, model_complexity 2, from the registry's verified `blazepose_heavy`) on a region of interest
that the caller chooses, returning the 33 landmarks, the metric world
landmarks, the region to follow in the next frame and the person's segmentation mask.

Regions follow mediapipe's rule: a square centred on one keypoint (the detector's hip centre, the
landmark model's first auxiliary point) whose side is 2 x 1.25 x the distance to a second keypoint,
rotated so that the second keypoint is straight up.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

ROI_SCALE = 1.25
# landmark model -> (mediapipe's model_complexity, the name a manifest records)
LANDMARK_MODELS = {"full": (1, "mediapipe-0.10.14/pose_landmark_full"),
                   "heavy": (2, "mediapipe/pose_landmark_heavy (blazepose_heavy)")}
HEAVY_FILE = "modules/pose_landmark/pose_landmark_heavy.tflite"  # where mediapipe loads complexity 2 from
DETECTOR_MODEL = "mediapipe-0.10.14/pose_detection"

_DETECTOR_GRAPH = """
input_stream: "IMAGE:image"
output_stream: "DETECTIONS:detections"
node { calculator: "PoseDetectionCpu" input_stream: "IMAGE:image" output_stream: "DETECTIONS:detections" }
"""

_LANDMARK_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
output_stream: "LANDMARKS:landmarks"
output_stream: "WORLD_LANDMARKS:world_landmarks"
output_stream: "AUXILIARY_LANDMARKS:auxiliary_landmarks"
output_stream: "SEGMENTATION_MASK:segmentation_mask"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "WORLD_LANDMARKS:world_landmarks"
  output_stream: "AUXILIARY_LANDMARKS:auxiliary_landmarks"
  output_stream: "SEGMENTATION_MASK:segmentation_mask"
}
"""


@dataclass(frozen=True)
class Roi:
    """A square region in pixels: centre, side length, and rotation (radians, clockwise on screen)."""

    cx: float
    cy: float
    size: float
    rotation: float

    @classmethod
    def from_keypoints(cls, centre, top) -> Roi:
        """mediapipe's region around `centre` that puts `top` straight above it, scaled by ROI_SCALE."""
        dx, dy = top[0] - centre[0], top[1] - centre[1]
        rotation = math.pi / 2 - math.atan2(-dy, dx)
        rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
        return cls(float(centre[0]), float(centre[1]), 2 * ROI_SCALE * math.hypot(dx, dy), rotation)

    def bounds(self) -> np.ndarray:
        """Axis-aligned box x1, y1, x2, y2 around the rotated square."""
        half = self.size / 2 * (abs(math.cos(self.rotation)) + abs(math.sin(self.rotation)))
        return np.array([self.cx - half, self.cy - half, self.cx + half, self.cy + half])


@dataclass
class Landmarks:
    """One person's landmark-model output, in the pixels of the image it ran on."""

    points: np.ndarray  # (33, 3): x, y in pixels, visibility in [0, 1]
    world: np.ndarray  # (33, 3): metres, origin between the hips, camera-aligned axes
    next_roi: Roi  # where to look for this person in the next frame
    mask: np.ndarray | None  # (H, W) float32 person probability, when segmentation is on


def _quiet_mediapipe():
    """Import mediapipe with its C++ info/warning logs off."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    from mediapipe.python.solution_base import SolutionBase

    return SolutionBase


def install_heavy_model() -> None:
    """Put the registry's verified heavy model where mediapipe loads model_complexity 2 from: its package
    folder, where mediapipe's own run-time download would write it (that download is known to fail)."""
    import shutil
    from pathlib import Path

    import mediapipe

    from vidcli.engine.keys import sha256_of
    from vidcli.errors import StageError
    from vidcli.models import registry

    source, target = registry.checkpoint_path("blazepose_heavy"), Path(mediapipe.__file__).parent / HEAVY_FILE
    published = registry.get("blazepose_heavy").sha256
    if target.is_file() and sha256_of(target) == published:
        return
    if sha256_of(source) != published:
        raise StageError(f"{source} is not the published blazepose_heavy (sha256 differs): "
                         "run `vidcli models download blazepose_heavy` again")
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    except OSError as exc:
        raise StageError(f"cannot place the heavy landmark model where mediapipe loads it ({target}): "
                         f"{exc.strerror}") from None


@contextlib.contextmanager
def _proto_warning_hidden():
    """Hide protobuf's deprecation warning that mediapipe's output conversion raises."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
        yield


class PoseDetector:
    """Every person proposal of the BlazePose detector in an image (its own non-maximum suppression)."""

    def __init__(self):
        self._graph = _quiet_mediapipe()(graph_config=_DETECTOR_GRAPH)

    def detect(self, rgb: np.ndarray) -> list[tuple[float, Roi]]:
        """(score, landmark region) per detection, in the pixels of `rgb`."""
        height, width = rgb.shape[:2]
        with _proto_warning_hidden():
            detections = self._graph.process({"image": np.ascontiguousarray(rgb)}).detections or []
        found = []
        for detection in detections:
            keypoints = [(k.x * width, k.y * height) for k in detection.location_data.relative_keypoints]
            found.append((float(detection.score[0]), Roi.from_keypoints(keypoints[0], keypoints[1])))
        return found

    def close(self) -> None:
        self._graph.close()


class PoseLandmarker:
    """A BlazePose landmark model (`LANDMARK_MODELS`) on a chosen region of an image."""

    def __init__(self, segmentation: bool, model: str = "full"):
        from mediapipe.framework.formats import rect_pb2

        if model == "heavy":
            install_heavy_model()
        self._rect = rect_pb2.NormalizedRect
        self._graph = _quiet_mediapipe()(
            graph_config=_LANDMARK_GRAPH,
            side_inputs={"model_complexity": LANDMARK_MODELS[model][0],
                         "enable_segmentation": segmentation})

    def landmarks(self, rgb: np.ndarray, roi: Roi) -> Landmarks | None:
        """The person in `roi` of `rgb`, or None when the model finds no person there. The model is
        given only the part of the image under the region (with a pixel of margin), so what it costs
        to copy the image in and the mask out does not grow with the frame."""
        height, width = rgb.shape[:2]
        x1, y1, x2, y2 = roi.bounds()
        x1, y1 = max(math.floor(x1) - 1, 0), max(math.floor(y1) - 1, 0)
        x2, y2 = min(math.ceil(x2) + 1, width), min(math.ceil(y2) + 1, height)
        if x2 <= x1 or y2 <= y1:
            return None
        crop = np.ascontiguousarray(rgb[y1:y2, x1:x2])
        crop_width, crop_height = x2 - x1, y2 - y1
        rect = self._rect(x_center=(roi.cx - x1) / crop_width, y_center=(roi.cy - y1) / crop_height,
                          width=roi.size / crop_width, height=roi.size / crop_height, rotation=roi.rotation)
        with _proto_warning_hidden():
            out = self._graph.process({"image": crop, "roi": rect})
        if out.landmarks is None:
            return None
        scale, offset = np.array([crop_width, crop_height, 1.0]), np.array([x1, y1, 0.0])
        points = np.array([(p.x, p.y, p.visibility) for p in out.landmarks.landmark]) * scale + offset
        world = np.array([(p.x, p.y, p.z) for p in out.world_landmarks.landmark])
        auxiliary = [(p.x * crop_width + x1, p.y * crop_height + y1) for p in out.auxiliary_landmarks.landmark]
        mask = None
        if out.segmentation_mask is not None:
            mask = np.zeros((height, width), np.float32)
            mask[y1:y2, x1:x2] = np.asarray(out.segmentation_mask, np.float32)
        return Landmarks(points, world, Roi.from_keypoints(auxiliary[0], auxiliary[1]), mask)

    def close(self) -> None:
        self._graph.close()
