"""Motion capture results to share: per person `.npz` (AMASS-style), `.bvh` and `.glb`; per video an
overlay video (bodies over the frames beside a world view), a top-down trajectory plot, `index.html`
(a page playing the video beside the 3D scene) and `summary.json`.

One file per person and gap-free segment: `person<id>.<ext>`, or `person<id>-<k>.<ext>` (k from 1)
when the world stage split the person's track. File contents: `vidcli.mocap.export`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError
from vidcli.mocap.rigs import RIGS
from vidcli.settings import setting

VERSION = 2
INPUTS = ("frames", "world")
FORMATS = ("npz", "bvh", "glb", "video", "plot", "page")


@dataclass
class Config:
    formats: str = setting(",".join(FORMATS), f"comma-separated outputs among {', '.join(FORMATS)}")
    video_size: int = setting(960, "longest side, in pixels, of each half of the overlay video at most (the "
                                    "frames' own size when smaller)", bounds="[64, 4096]")
    rig: str = setting("smpl", "skeleton of the BVH and glTF files: smpl, anny (Anny's bone names), mixamo "
                               "(Mixamo's, T-pose) or ue5 (the UE5 Mannequin's, T-pose)", choices=RIGS)

    def chosen(self) -> set[str]:
        return {name.strip() for name in self.formats.split(",") if name.strip()}

    def check(self) -> None:
        if not self.chosen() or self.chosen() - set(FORMATS):
            raise ConfigError(f"formats must be a comma-separated list of {', '.join(FORMATS)}, "
                              f"got {self.formats!r}")
        if "page" in self.chosen() and "glb" not in self.chosen():
            raise ConfigError("formats: the page shows the .glb bodies, so \"page\" needs \"glb\" too")


def resolve_config(config: Config) -> Config:
    """The formats in canonical order, so that the key does not depend on their order."""
    return replace(config, formats=",".join(name for name in FORMATS if name in config.chosen()))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    from vidcli import bvh
    from vidcli.body.models import BodySpec, load_body_model
    from vidcli.io.camera import CAMERA_NPZ, read_camera
    from vidcli.io.frames import FrameSequence
    from vidcli.io.motion import MOTION_NPZ, WORLD_JSON, read_motion
    from vidcli.mocap.export import amass_arrays, bvh_motion, write_glb
    from vidcli.mocap.results_page import PAGE_NAME, write_results_page
    from vidcli.mocap.views import overlay_video, track_colours, trajectory_plot

    formats = config.formats.split(",")
    world_dir = Path(inputs["world"].path)
    motion = read_motion(world_dir / MOTION_NPZ)
    world = json.loads((world_dir / WORLD_JSON).read_text())
    camera = read_camera(world_dir / CAMERA_NPZ)
    spec = BodySpec(**world["body_model"])
    model = load_body_model(spec)
    fps = camera.fps
    track_ids = sorted(int(t) for t in np.unique(motion.track_id))
    segments = []
    for index, track_id in enumerate(track_ids):
        rows = np.flatnonzero(motion.track_id == track_id)
        numbers = np.unique(motion.segment[rows])
        for number in numbers:
            r = rows[motion.segment[rows] == number]
            r = r[np.argsort(motion.frame[r])]
            stem = f"person{track_id}" if len(numbers) == 1 else f"person{track_id}-{number + 1}"
            segments.append((track_id, index, stem, r))

    frames = FrameSequence(inputs["frames"].path)
    colours = track_colours(frames, camera, motion, track_ids)
    files = []
    for _track_id, index, stem, r in segments:
        shape, local, root = motion.shape[r[0]], motion.rotations[r], motion.root_world[r]
        if "npz" in formats:
            arrays = amass_arrays(model, spec, shape, local, root, motion.frame[r], fps)
            np.savez(out_dir / f"{stem}.npz", **arrays)
        if "bvh" in formats:
            bvh.write(bvh_motion(model, shape, local, root, fps, config.rig), out_dir / f"{stem}.bvh")
        if "glb" in formats:
            write_glb(out_dir / f"{stem}.glb", model, shape, local, root, fps, colours[index], config.rig)
        files.append(stem)
    if "video" in formats:
        overlay_video(out_dir / "overlay.mp4", frames, camera, model, motion, segments, colours,
                      config.video_size)
    if "plot" in formats:
        trajectory_plot(out_dir / "trajectory.png",
                        {t: motion.root_world[motion.track_id == t] for t in track_ids}, camera.t_wc, colours)
    if "page" in formats:
        people = [{"track": track_id, "first": motion.frame[r[0]], "last": motion.frame[r[-1]],
                   "colour": colours[index], "root": motion.root_world[r], "glb": out_dir / f"{stem}.glb",
                   "files": _person_files(stem, formats)}
                  for track_id, index, stem, r in segments]
        who = f"{len(track_ids)} {'person' if len(track_ids) == 1 else 'people'}"
        write_results_page(out_dir / PAGE_NAME, f"vidcli mocap: {who}, rig {config.rig}", camera, people,
                           "overlay.mp4" if "video" in formats else None)
    summary = _summary(model, spec, motion, world, camera, segments, formats, config.rig)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return RunInfo(model=spec.name, counts={"people": len(track_ids), "files": len(files)})


def _person_files(stem: str, formats: list[str]) -> list[str]:
    return [f"{stem}.{ext}" for ext in ("npz", "bvh", "glb") if ext in formats]


def _summary(model, spec, motion, world: dict, camera, segments, formats: list[str], rig: str) -> dict:
    people: dict[str, dict] = {}
    for track_id, _, stem, r in segments:
        root = motion.root_world[r]
        step = np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=1)
        vertices, _ = model.rest_mesh(motion.shape[r[0]])
        person = people.setdefault(str(track_id), {"height_m": round(float(np.ptp(vertices[:, 1])), 3),
                                                   "shape": motion.shape[r[0]].round(4).tolist(),
                                                   "segments": []})
        person["segments"].append({
            "first": int(motion.frame[r[0]]), "last": int(motion.frame[r[-1]]), "frames": len(r),
            "interpolated": int(motion.interpolated[r].sum()),
            "distance_m": round(float(step.sum()), 3),
            "mean_speed_mps": round(float(step.sum() / max(len(r) - 1, 1) * camera.fps), 3),
            "contact_fraction": motion.contact[r].mean(axis=0).round(3).tolist(),
            "files": _person_files(stem, formats),
        })
    return {
        "body_model": spec.as_dict(), "shape_labels": list(model.shape_labels), "fps": camera.fps,
        "frames": int(len(camera.t_wc)),
        "camera_path_m": round(float(np.linalg.norm(np.diff(camera.t_wc, axis=0), axis=1).sum()), 3),
        "ground": world["ground"], "rig": rig, "people": people,
        "files": [name for name, kind in (("overlay.mp4", "video"), ("trajectory.png", "plot"),
                                          ("index.html", "page")) if kind in formats],
    }
