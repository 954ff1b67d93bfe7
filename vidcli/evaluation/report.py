"""Score a run against a ground-truth folder: find the files, pair people, compute docs/metrics.md.

A RUN is either a workspace input directory (`<workspace>/<stem>-<hash8>/<stage>/<key>/`, the most
recently finished complete artifact of each stage is used) or a folder laid out like a ground truth
(`camera.npz`, `tracks.npz`, ... directly inside). A stage that either side lacks is reported with a
status instead of metrics; the other stages are still scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.table import Table

from vidcli.engine.store import complete_artifacts
from vidcli.errors import InputError
from vidcli.evaluation import metrics
from vidcli.body import BODY_MODELS
from vidcli.io.arrays import load_npz
from vidcli.io.motion import WORLD_JSON

STAGE_FILES = {
    "camera": "camera.npz", "scale": "camera.npz", "track": "tracks.npz", "world": "motion.npz",
    "keypoints": "keypoints.npz",
}
# Files beside a flat layout's camera.npz that make it metric (the scale or world stage wrote it, or
# `vidcli synth`'s ground truth).
METRIC_CAMERA_MARKERS = ("scale.json", "world.json", "people.json")
DEFAULT_FPS = 30.0
DEFAULT_BODY_MODEL = BODY_MODELS[0]  # what a motion table that names no body model was made with
STATUS_TEXT = {
    "ok": "ok",
    "missing": "missing from RUN",
    "no_gt": "no ground truth",
    "no_overlap": "nothing to compare (no shared frames or people)",
}

# (key in a stage's "metrics", label, unit, target) in table order. The camera stage is up to scale, so
# its block leaves out what only a metric trajectory can meet (the scale block shows those). Targets
# are those of the synthetic benchmark (docs/metrics.md); "" where a figure is context, not a score.
TABLE_ROWS = {
    "camera": [
        ("frames", "frames compared", "", ""),
        ("ate_pct", "ATE / GT path length, Sim(3) aligned", "%", "<= 2"),
        ("ate_m", "ATE, Sim(3) aligned", "m", ""),
        ("rotation_deg", "rotation error, best rotation fit", "deg", ""),
        ("rpe_rot_deg", "RPE rotation (1 frame)", "deg", ""),
        ("focal_error_pct", "focal length error", "%", "<= 5"),
    ],
    "scale": [
        ("frames", "frames compared", "", ""),
        ("scale_error_pct", "scale error", "%", "<= 5"),
        ("ate_se3_m", "ATE, SE(3) aligned (metric)", "m", ""),
        ("ate_m", "ATE, Sim(3) aligned", "m", ""),
        ("sim3_scale", "Sim(3) scale, run to GT", "x", "1"),
    ],
    "track": [
        ("recall", "detection recall, IoU >= 0.5", "", ""),
        ("recall_tall", "recall, GT boxes >= 100 px tall", "", ">= 0.95"),
        ("precision", "detection precision", "", ""),
        ("id_switches", "ID switches", "", "0"),
        ("mota", "MOTA", "", ""),
        ("matched_tracks", "GT tracks paired with a run track", "", "every GT person"),
        ("tracks_per_person", "run tracks matched to one GT person, most", "", "1"),
        ("idf1", "IDF1", "", ""),
    ],
    "world": [
        ("people", "people paired", "", ""),
        ("frames", "person-frames compared", "", ""),
        ("pa_mpjpe_mm", "PA-MPJPE", "mm", "<= 75"),
        ("mpjpe_mm", "MPJPE, root-relative (camera)", "mm", ""),
        ("wa_mpjpe_mm", "WA-MPJPE (windows)", "mm", "<= 110"),
        ("w_mpjpe_mm", "W-MPJPE (windows)", "mm", "<= 300"),
        ("rte_pct", "RTE", "%", "<= 3"),
        ("accel_mm_per_frame2", "acceleration error", "mm/frame²", ""),
        ("jitter_10m_per_s3", "jitter", "10 m/s³", ""),
        ("foot_skating_mm_per_frame", "foot skating in GT contact", "mm/frame", "<= 8"),
        ("gravity_deg", "gravity error, camera frame", "deg", "<= 3"),
        ("hands", "hand joints compared (same body model)", "", ""),
    ],
    "keypoints": [
        ("keypoints", "visible GT keypoints compared", "", ""),
        ("error_px", "2D keypoint error", "px", ""),
        ("pck", "PCK @ 0.1 person height", "", ""),
        ("size_ratio", "size ratio, person / metric keypoints", "x", "1"),
    ],
}


# ----- locating files -----


def stage_files(folder: Path, metric_camera: bool = False) -> dict[str, Path | None]:
    """The file each stage is scored from, or None: flat (GT-like) layout first, else workspace layout.
    A flat layout's camera.npz counts for the scale stage when `metric_camera` (ground truth) or a file
    beside it says the camera is metric; a camera up to scale has no scale error to print."""
    flat = {stage: folder / name for stage, name in STAGE_FILES.items() if (folder / name).is_file()}
    if flat:
        if not metric_camera and not any((folder / name).is_file() for name in METRIC_CAMERA_MARKERS):
            flat.pop("scale", None)
        return {stage: flat.get(stage) for stage in STAGE_FILES}
    return {stage: _newest_artifact_file(folder / stage, name) for stage, name in STAGE_FILES.items()}


def _newest_artifact_file(stage_dir: Path, name: str) -> Path | None:
    """`name` inside the most recently finished complete artifact of `stage_dir` that has it."""
    artifacts = [path for path in complete_artifacts(stage_dir) if (path / name).is_file()]
    return artifacts[-1] / name if artifacts else None


# ----- evaluation -----


def evaluate(run: Path, gt: Path, window: int = 100) -> dict:
    """Every metric that RUN and GT allow, as a JSON-ready dict (see docs/metrics.md)."""
    run, gt = Path(run).absolute(), Path(gt).absolute()
    for role, folder in (("RUN", run), ("GT", gt)):
        if not folder.is_dir():
            raise InputError(f"{role} {folder} is not a directory")
    run_files, gt_files = stage_files(run), stage_files(gt, metric_camera=True)
    if not any(gt_files.values()):
        raise InputError(f"GT {gt} holds none of {', '.join(dict.fromkeys(STAGE_FILES.values()))}")
    if not any(run_files.values()):
        raise InputError(f"RUN {run} holds no camera, scale, track, world or keypoints artifact")

    fps = DEFAULT_FPS
    if gt_files["camera"]:
        fps = float(load_npz(gt_files["camera"], ("fps",))["fps"])
    stages = {stage: _status(run_files[stage], gt_files[stage]) for stage in STAGE_FILES}
    for stage in ("camera", "scale"):  # scale: the metric camera, scored like the camera stage's
        if stages[stage]["status"] == "ok":
            stages[stage].update(_camera(run_files[stage], gt_files[stage]))
    pairs, pairing = None, "same track id"
    if stages["track"]["status"] == "ok":
        stages["track"].update(_tracking(run_files["track"], gt_files["track"]))
        pairs, pairing = {int(g): r for g, r in stages["track"]["track_pairs"].items()}, "box IoU"
    if stages["world"]["status"] == "ok":
        world = _world(run_files["world"], gt_files["world"], pairs, fps, window)
        stages["world"].update(world, pairing=pairing)
    if stages["keypoints"]["status"] == "ok":
        keypoints = _keypoints(run_files["keypoints"], gt_files["keypoints"], pairs)
        stages["keypoints"].update(keypoints, pairing=pairing)
    return {"run": str(run), "gt": str(gt), "window": window, "fps": fps, "stages": stages}


def _status(run_file: Path | None, gt_file: Path | None) -> dict:
    """A stage entry before scoring: its files, and "ok" only when both sides have one."""
    status = "missing" if run_file is None else "no_gt" if gt_file is None else "ok"
    return {"status": status, "run_file": _text(run_file), "gt_file": _text(gt_file)}


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _number(value):
    """A JSON-safe int or float (None for missing or non-finite values)."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _mean(samples: list[np.ndarray]):
    joined = np.concatenate(samples) if samples else np.zeros(0)
    return _number(joined.mean()) if joined.size else None


def _boxes(path: Path) -> metrics.Boxes:
    data = load_npz(path, ("frame", "track_id", "box"))
    return metrics.Boxes(data["frame"].astype(int), data["track_id"].astype(int), data["box"].astype(float))


def _shared_rows(gt: dict, run: dict, pairs: dict[int, int] | None):
    """(gt id, run id, frames, gt rows, run rows) for every paired person, rows sorted by frame."""
    gt_ids = np.unique(gt["track_id"]).astype(int)
    if pairs is None:
        pairs = {int(i): int(i) for i in gt_ids if i in run["track_id"]}
    shared = []
    for gt_id, run_id in sorted(pairs.items()):
        g = np.flatnonzero(gt["track_id"] == gt_id)
        r = np.flatnonzero(run["track_id"] == run_id)
        frames, gi, ri = np.intersect1d(gt["frame"][g], run["frame"][r], return_indices=True)
        if len(frames):
            shared.append((gt_id, run_id, frames.astype(int), g[gi], r[ri]))
    return shared


def _camera(run_file: Path, gt_file: Path) -> dict:
    keys = ("K", "R_wc", "t_wc")
    run, gt = load_npz(run_file, keys), load_npz(gt_file, keys)
    lengths = {"run_frames": len(run["t_wc"]), "gt_frames": len(gt["t_wc"])}
    count = min(lengths.values())
    if count < 2:
        return {"status": "no_overlap", **lengths}
    head = slice(0, count)
    errors = metrics.camera_errors(run["R_wc"][head], run["t_wc"][head], gt["R_wc"][head], gt["t_wc"][head])
    values = {name: _number(getattr(errors, name)) for name in errors.__dataclass_fields__}
    values["focal_error_pct"] = _number(metrics.focal_error_pct(run["K"], gt["K"]))
    return {"status": "ok", **lengths, "metrics": values}


def _tracking(run_file: Path, gt_file: Path) -> dict:
    gt, run = _boxes(gt_file), _boxes(run_file)
    errors = metrics.tracking_errors(gt, run)
    values = {
        "recall": _number(errors.recall),
        "recall_tall": _number(errors.tall_recall),
        "precision": _number(errors.precision),
        "id_switches": errors.id_switches,
        "mota": _number(errors.mota),
        "idf1": _number(errors.idf1),
        "fragmentations": errors.fragmentations,
        "tracks_per_person": max(metrics.tracks_per_person(gt, run).values(), default=0),
        "matched_tracks": len(errors.track_pairs),
        "gt_tracks": len(np.unique(gt.track_id)),
        "run_tracks": len(np.unique(run.track_id)),
        "gt_boxes": errors.gt_boxes,
        "run_boxes": errors.pred_boxes,
        "matched_boxes": errors.matched_boxes,
        "tall_gt_boxes": errors.tall_gt_boxes,
    }
    pairs = {str(g): r for g, r in sorted(errors.track_pairs.items())}
    return {"status": "ok", "metrics": values, "track_pairs": pairs}


WORLD_METRICS = ("pa_mpjpe_mm", "mpjpe_mm", "wa_mpjpe_mm", "w_mpjpe_mm", "rte_pct",
                 "accel_mm_per_frame2", "jitter_10m_per_s3", "foot_skating_mm_per_frame")


def _person_samples(gt: dict, run: dict, frames, gi, ri, fps: float, window: int,
                    joints: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample errors of one paired person over its shared frames, on the SMPL-24 `joints` both
    sides define at the same point."""
    gt_world, run_world = gt["joints_world"][gi], run["joints_world"][ri]
    gt_cam = metrics.root_relative(gt["joints_cam"][gi])[:, joints]
    run_cam = metrics.root_relative(run["joints_cam"][ri])[:, joints]
    root_errors = metrics.rte(run_world[:, metrics.ROOT_JOINT], gt_world[:, metrics.ROOT_JOINT])
    return {
        "pa_mpjpe_mm": metrics.pa_mpjpe(run_cam, gt_cam),
        "mpjpe_mm": metrics.mpjpe(run_cam, gt_cam),
        "wa_mpjpe_mm": metrics.wa_mpjpe(run_world[:, joints], gt_world[:, joints], window),
        "w_mpjpe_mm": metrics.w_mpjpe(run_world[:, joints], gt_world[:, joints], window),
        "rte_pct": np.zeros(0) if root_errors is None else root_errors,
        "accel_mm_per_frame2": metrics.accel_error(run_cam, gt_cam, frames),
        "jitter_10m_per_s3": metrics.jitter(run_world[:, joints], frames, fps),
        "foot_skating_mm_per_frame": metrics.foot_skating(run_world, gt_world, frames, fps),
    }


def _body_model(motion_file: Path) -> str:
    """The body model a motion table's joints belong to: named by `world.json` beside it (a world
    artifact) or its own `body_model` key (ground truth), else the default body model."""
    world_json = motion_file.parent / WORLD_JSON
    if world_json.is_file():
        return json.loads(world_json.read_text()).get("body_model", {}).get("name", DEFAULT_BODY_MODEL)
    with np.load(motion_file, allow_pickle=False) as data:
        return str(data["body_model"]) if "body_model" in data.files else DEFAULT_BODY_MODEL


def _world(run_file: Path, gt_file: Path, pairs, fps: float, window: int) -> dict:
    keys = ("frame", "track_id", "joints_world", "joints_cam")
    gt = load_npz(gt_file, keys)
    run = load_npz(run_file, keys)
    # Each body model puts SMPL-24's hand joints at its own point (SMPL's between wrist and knuckles,
    # Anny's at the finger base): they are compared only between tables of the same body model.
    hands = _body_model(run_file) == _body_model(gt_file)
    joints = np.array([j for j in range(gt["joints_world"].shape[1])
                       if hands or j not in metrics.HAND_JOINTS])
    people, pooled = [], {name: [] for name in WORLD_METRICS}
    for gt_id, run_id, frames, gi, ri in _shared_rows(gt, run, pairs):
        samples = _person_samples(gt, run, frames, gi, ri, fps, window, joints)
        for name, values in samples.items():
            pooled[name].append(values)
        summary = {name: _mean([values]) for name, values in samples.items()}
        people.append({"gt_track": gt_id, "run_track": run_id, "frames": len(frames), "metrics": summary})
    if not people:
        return {"status": "no_overlap", "people": []}
    overall = {"people": len(people), "frames": sum(p["frames"] for p in people)}
    overall.update({name: _mean(values) for name, values in pooled.items()})
    camera = STAGE_FILES["camera"]
    overall["gravity_deg"] = _gravity(run_file.parent / camera, gt_file.parent / camera)
    overall["hands"] = "yes" if hands else "no"
    return {"status": "ok", "metrics": overall, "people": people}


def _gravity(run_camera: Path, gt_camera: Path) -> float | None:
    """Mean gravity error (degrees) of the world's camera (camera.npz beside its motion.npz) over the
    frames both cameras have; None without both."""
    if not (run_camera.is_file() and gt_camera.is_file()):
        return None
    run, gt = load_npz(run_camera, ("R_wc",)), load_npz(gt_camera, ("R_wc",))
    count = min(len(run["R_wc"]), len(gt["R_wc"]))
    return _mean([metrics.gravity_errors(run["R_wc"][:count], gt["R_wc"][:count])]) if count else None


def _keypoints(run_file: Path, gt_file: Path, pairs) -> dict:
    keys = ("frame", "track_id", "keypoints2d", "world3d")
    gt, run = load_npz(gt_file, keys), load_npz(run_file, keys)
    distances, within, sizes = [], [], []
    for _, _, _, gi, ri in _shared_rows(gt, run, pairs):
        gt_kp, run_kp = gt["keypoints2d"][gi], run["keypoints2d"][ri]
        d, w = metrics.keypoint_errors(run_kp[..., :2], gt_kp[..., :2], gt_kp[..., 2] > 0.5)
        distances.append(d)
        within.append(w.astype(float))
        ratios = metrics.size_ratios(run["world3d"][ri], gt["world3d"][gi])
        sizes.append(ratios[np.isfinite(ratios)])
    count = int(sum(len(d) for d in distances))
    if not count:
        return {"status": "no_overlap"}
    values = {"keypoints": count, "error_px": _mean(distances), "pck": _mean(within),
              "size_ratio": _mean(sizes)}
    return {"status": "ok", "metrics": values}


# ----- presentation -----


def _format(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, str)):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def summary_table(report: dict) -> Table:
    """One rich table: a block of rows per stage, or the stage's status when it was not scored."""
    table = Table(title=f"{report['run']} vs {report['gt']}", title_justify="left")
    table.add_column("stage")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("target")
    for stage, rows in TABLE_ROWS.items():
        entry = report["stages"][stage]
        if entry["status"] != "ok":
            table.add_row(stage, STATUS_TEXT[entry["status"]], "", "", "", end_section=True)
            continue
        for index, (key, label, unit, target) in enumerate(rows):
            value = _format(entry["metrics"].get(key))
            table.add_row(stage if index == 0 else "", label, value, unit, target,
                          end_section=index == len(rows) - 1)
    return table


def people_table(report: dict) -> Table | None:
    """Per-person world metrics, when more than one person was scored."""
    world = report["stages"]["world"]
    if world["status"] != "ok" or len(world["people"]) < 2:
        return None
    columns = [("pa_mpjpe_mm", "PA-MPJPE mm"), ("wa_mpjpe_mm", "WA-MPJPE mm"), ("w_mpjpe_mm", "W-MPJPE mm"),
               ("rte_pct", "RTE %"), ("foot_skating_mm_per_frame", "skating mm/frame")]
    table = Table(title="people", title_justify="left")
    for header in ("GT track", "run track", "frames", *(label for _, label in columns)):
        table.add_column(header, justify="right")
    for person in world["people"]:
        values = [_format(person["metrics"][key]) for key, _ in columns]
        table.add_row(str(person["gt_track"]), str(person["run_track"]), str(person["frames"]), *values)
    return table
