"""`vidcli synth`: render a synthetic video and write its exact ground truth beside it."""

from __future__ import annotations


import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vidcli.body.anny_model import load_body
from vidcli.render.camera import Camera, intrinsics
from vidcli.render.scene import Body, Frame, raycast, render
from vidcli.synth.camera_paths import camera_path
from vidcli.synth.groundtruth import GroundTruth
from vidcli.synth.people import make_people
from vidcli.synth.scene import build_scene
from vidcli.training.flow_data import SYNTH_FLOW_DIR

HORIZONTAL_FOV_DEG = 60.0


@dataclass
class SynthOptions:
    duration: float = 5.0
    width: int = 640
    height: int = 360
    fps: float = 30.0
    seed: int = 0
    people: int = 2
    camera: str = "orbit"
    bvh: list[Path] = field(default_factory=list)
    phenotype: dict[str, float] = field(default_factory=dict)  # overrides for every person
    scene: str = "textured"  # see vidcli.synth.scene.SCENES
    noise: float = 0.0  # sensor noise: standard deviation in 0-255 levels, fresh in every frame
    shadow: bool = False  # soft shadows under the people
    loop: float = 0.0  # seconds after which motion and camera play backwards, then forwards again; 0: never
    crf: int = 18  # H.264 quality of the video (higher: smaller file, more compression artefacts)
    flow: bool = False  # also write the exact forward flow of every frame pair (OUT.mp4.gt/flow/)

    @property
    def frames(self) -> int:
        return max(1, int(round(self.duration * self.fps)))

    @property
    def loop_frames(self) -> int:
        """Frames of motion and camera path computed: those of one pass of the loop, or all."""
        return min(self.frames, max(2, int(round(self.loop * self.fps)))) if self.loop else self.frames


def ping_pong(frames: int, period: int) -> np.ndarray:
    """Index into `period` computed frames of each of `frames` video frames, played forwards and
    backwards in turn (no jump where the direction turns)."""
    if period < 2:
        return np.zeros(frames, int)
    phase = np.arange(frames) % (2 * period - 2)
    return np.where(phase < period, phase, 2 * period - 2 - phase)


class Synthesis:
    """A seeded synthetic sequence: scene, people and camera path; frames render on demand.

    People and camera path are computed for `options.loop_frames` frames; `source_frames` maps
    each video frame to one of them (so a long looping clip costs the memory of one loop)."""

    def __init__(self, options: SynthOptions):
        self.options = options
        self.body = load_body()
        rng = np.random.default_rng(options.seed)
        self.scene = build_scene(rng, options.scene)
        self.scene.soft_shadows = options.shadow
        computed = options.loop_frames
        self.source_frames = ping_pong(options.frames, computed)
        self.people = make_people(self.body, options.people, options.bvh, computed, options.fps, rng,
                                  options.phenotype)
        self.K = intrinsics(options.width, options.height, HORIZONTAL_FOV_DEG)
        R_wc, t_wc = camera_path(options.camera, computed, options.fps, rng)
        self.R_wc, self.t_wc = R_wc[self.source_frames], t_wc[self.source_frames]
        self._background = (None, None)  # (camera pose, raycast) of the last frame

    def camera(self, frame: int) -> Camera:
        return Camera(self.K, self.R_wc[frame], self.t_wc[frame], self.options.width, self.options.height)

    def render(self, frame: int) -> Frame:
        source = self.source_frames[frame]
        bodies = [Body(p.vertices[source], self.body.faces, p.face_colours) for p in self.people]
        camera = self.camera(frame)
        pose = np.concatenate([camera.R_wc.ravel(), camera.t_wc])
        if self._background[0] is None or not np.array_equal(self._background[0], pose):
            self._background = (pose, raycast(camera, self.scene))
        rendered = render(camera, self.scene, bodies, self._background[1])
        if not self.options.noise:
            return rendered
        noise = np.random.default_rng([self.options.seed, frame]).normal(0.0, self.options.noise,
                                                                         rendered.rgb.shape)
        rgb = np.clip(rendered.rgb + noise, 0, 255).astype(np.uint8)
        return replace(rendered, rgb=rgb)

    def flow(self, frame: int, first: Frame, second: Frame) -> np.ndarray:
        """The exact flow from the render `first` of `frame` to the render `second` of the next one."""
        from vidcli.synth.flow import exact_flow

        faces = np.concatenate([self.body.faces + i * self.people[0].vertices.shape[1]
                                for i in range(len(self.people))])
        vertices = [np.concatenate([p.vertices[k] for p in self.people]) for k in (frame, frame + 1)]
        return exact_flow(first, second, (self.camera(frame), self.camera(frame + 1)), vertices, faces)


def synthesize(out: Path, options: SynthOptions, progress=None) -> Path:
    """Write the video `out` and its ground truth directory `out.gt/`; return the latter.

    Both appear only when complete: the video through the writer's temporary name, the ground
    truth in a hidden directory renamed at the end.
    """
    from vidcli.io.video import VideoWriter

    synthesis = Synthesis(options)
    truth = GroundTruth(synthesis)
    gt_dir = out.with_name(out.name + ".gt")
    partial = out.with_name(f".{gt_dir.name}.partial")
    flow_partial = out.with_name(f".{gt_dir.name}.flow-partial")
    for leftover in (partial, flow_partial):
        shutil.rmtree(leftover, ignore_errors=True)
    previous = None
    with VideoWriter(out, options.fps, (options.width, options.height), crf=options.crf) as writer:
        for index in range(options.frames):
            frame = synthesis.render(index)
            writer.write(frame.rgb)
            truth.add(index, frame)
            if options.flow and previous is not None:
                _write_flow(flow_partial, index - 1, synthesis.flow(index - 1, previous, frame))
            previous = frame
            if progress is not None:
                progress.advance()
    truth.write(partial)
    if options.flow:
        flow_partial.mkdir(exist_ok=True)
        flow_partial.rename(partial / SYNTH_FLOW_DIR)
    shutil.rmtree(gt_dir, ignore_errors=True)
    partial.rename(gt_dir)
    return gt_dir


def _write_flow(folder: Path, frame: int, flow: np.ndarray) -> None:
    from vidcli.io.flow import pair_filename, write_flo

    folder.mkdir(exist_ok=True)
    write_flo(folder / pair_filename(frame, frame + 1), flow)
