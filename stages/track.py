"""Find every person in every frame and link them into tracks with stable ids.

The `track` backend (`vidcli.backends`) does both, then joins the fragments of one person's track
(`vidcli.perception.fragments`); this stage writes its tracks as `tracks.npz` and
MOT text (docs/formats.md). The embedded backend also records each person's BlazePose landmarks and
silhouette beside the tracks, which the embedded masks and keypoints backends read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from vidcli import backends
from vidcli.console import log, progress
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError, InputError
from vidcli.io.frames import FrameSequence
from vidcli.io.tracks import write_tracks
from vidcli.perception.box_trackers import TRACKERS
from vidcli.settings import setting

VERSION = 6
INPUTS = ("frames",)
COMPONENT = "track"


@dataclass
class Config:
    backend: str = setting("auto", "person detector and tracker; auto: a full backend whose checkpoints are "
                                   "installed, else embedded", choices=backends.choices(COMPONENT))
    max_people: int = setting(8, "most people found in a frame", bounds="[1, 64]")
    min_score: float = setting(0.5, "least person-detector confidence (0-1) for someone new", bounds="[0, 1]")
    detect_every: int = setting(10, "frames between full searches for new people", bounds="[1, 10000]")
    detect_size: int = setting(640, "longest side, in pixels, of the frame the person detector searches",
                               bounds="[64, 4096]")
    lost_memory_s: float = setting(1.0, "seconds a lost person's track waits to be found again",
                                   bounds="[0, 600]")
    min_hits: int = setting(3, "detections that confirm a track; tracks with fewer are dropped",
                            bounds="[1, 1000]")
    appearance: bool = setting(True, "also match people by the colours they wear (after occlusions, "
                                             "crossings and long absences)")
    require_people: bool = setting(False, "nobody found is a bad input (exit 3), so that the stages after "
                                          "this one do not run on an empty video")
    landmark_model: str = setting("full", "the embedded backend's BlazePose landmark model; heavy "
                                          "(vidcli models download blazepose_heavy) costs about 3x",
                                  choices=("full", "heavy"))
    yolo_model: str = setting("yolov8x", "the yolo backend's detector checkpoint",
                              choices=("yolov8x", "yolo11x"))
    yolo_tracker: str = setting("bytetrack", "the ultralytics tracker that links the yolo backend's "
                                             "detections", choices=TRACKERS)
    trust_checkpoint: bool = setting(False, "load a yolo checkpoint whose sha256 matches no published digest "
                                            "(a pickle, which can run code)", significant=False)
    device: str = setting("auto", "where the yolo detector runs; auto: cuda when a GPU is visible",
                          significant=False, choices=backends.DEVICES)

    def check(self) -> None:
        from vidcli.models import registry

        if self.landmark_model == "heavy" and not registry.is_present("blazepose_heavy"):
            raise ConfigError("landmark_model heavy needs its checkpoint: "
                              "vidcli models download blazepose_heavy")


def resolve_config(config: Config) -> Config:
    return replace(config, device=backends.device(backends.get(COMPONENT, config.backend), config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    frames = FrameSequence(inputs["frames"].path)
    tracker = backends.get(COMPONENT, config.backend).build(config)
    with progress(f"track ({config.backend})", len(frames)) as bar:
        tracks = tracker.track(frames, out_dir, bar.advance)
    if not len(tracks):
        if config.require_people:
            raise InputError(f"nobody found in the video's {len(frames)} frames")
        log.info("track: no person found in %d frames; the tracks are empty", len(frames))
    write_tracks(out_dir, tracks)
    counts = {"frames": len(frames), "tracks": len(set(tracks.track_id.tolist())), "detections": len(tracks)}
    return RunInfo(backend=config.backend, model=tracker.model, checksum=tracker.checksum, counts=counts)
