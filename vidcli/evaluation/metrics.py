"""Pure numpy metrics for cameras, tracks and 3D human motion; docs/metrics.md defines each one.

Positions are metres in, millimetres out for the body metrics. Functions that score a sequence
return one value per sample (frame, frame pair, box); reports average them, so that several
sequences or people combine frame-weighted, as WHAM, TRAM and GVHMR report EMDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidcli.geometry.boxes import box_iou

MM = 1000.0
HIP_JOINTS = (1, 2)  # SMPL-24 left and right hip: their midpoint is the root for root-relative joints
ROOT_JOINT = 0  # SMPL-24 pelvis: the trajectory that RTE scores
FOOT_JOINTS = (10, 11)  # SMPL-24 left and right foot, in the order of the `contact` columns
HAND_JOINTS = (22, 23)  # SMPL-24 left and right hand: each body model puts them at its own point
UP_AXIS = 1  # world frame is y up
# A foot is in contact while its joint is within CONTACT_HEIGHT_M of its lowest height in the clip and
# moves slower than CONTACT_SPEED_M_PER_S horizontally (docs/metrics.md, "Foot skating").
CONTACT_HEIGHT_M = 0.03
CONTACT_SPEED_M_PER_S = 0.2
STILL_CAMERA_M = 0.01  # camera centres spread less than this (RMS): no baseline, so no scale


# ----- alignment -----


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True):
    """Least-squares (s, R, t) with target ≈ s * R @ source + t (Umeyama 1991), batched over leading axes.

    `source`, `target`: (..., N, 3). Returns s (...), R (..., 3, 3), t (..., 3). Without scale, s = 1
    (a rigid SE(3) fit). A degenerate source (all points equal) gets s = 1.
    """
    source, target = np.asarray(source, float), np.asarray(target, float)
    mean_source, mean_target = source.mean(-2), target.mean(-2)
    centred_source = source - mean_source[..., None, :]
    centred_target = target - mean_target[..., None, :]
    n = source.shape[-2]
    covariance = np.swapaxes(centred_target, -1, -2) @ centred_source / n
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.where(np.linalg.det(u) * np.linalg.det(vt) < 0, -1.0, 1.0)
    correction = np.ones(singular.shape)
    correction[..., 2] = sign
    rotation = u @ (correction[..., :, None] * vt)
    if with_scale:
        variance = (centred_source**2).sum((-2, -1)) / n
        trace = (singular * correction).sum(-1)
        scale = np.where(variance > 0, trace / np.where(variance > 0, variance, 1.0), 1.0)
    else:
        scale = np.ones(singular.shape[:-1])
    translation = mean_target - scale[..., None] * (rotation @ mean_source[..., None])[..., 0]
    return scale, rotation, translation


def apply_similarity(points: np.ndarray, scale, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """s * R @ p + t for every point of `points` (..., 3), with one transform."""
    return scale * points @ rotation.T + translation


def align(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> np.ndarray:
    """`source` (..., 3) moved onto `target` by one Sim(3) (or SE(3)) fitted on all their points."""
    flat_source, flat_target = source.reshape(-1, 3), target.reshape(-1, 3)
    scale, rotation, translation = umeyama(flat_source, flat_target, with_scale)
    return apply_similarity(source, scale, rotation, translation)


def path_length(points: np.ndarray) -> float:
    """Summed distance between consecutive positions (F, 3)."""
    return float(np.linalg.norm(np.diff(points, axis=0), axis=-1).sum())


def rotation_alignment(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation A minimising sum_i ||target_i - A @ source_i||_F over rotation matrices (F, 3, 3)."""
    u, _, vt = np.linalg.svd((target @ np.swapaxes(source, -1, -2)).sum(0))
    return u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt


def rotation_angle_deg(rotations: np.ndarray) -> np.ndarray:
    """Angle of each rotation matrix (..., 3, 3), in degrees."""
    cos = (np.trace(rotations, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# ----- camera -----


@dataclass
class CameraErrors:
    """Camera trajectory errors of a prediction against ground truth (see `camera_errors`)."""

    frames: int
    ate_m: float
    ate_pct: float | None
    ate_se3_m: float
    rotation_deg: float
    rpe_trans_m: float | None
    rpe_rot_deg: float | None
    sim3_scale: float | None
    scale_error_pct: float | None


def camera_errors(pred_R: np.ndarray, pred_t: np.ndarray, gt_R: np.ndarray, gt_t: np.ndarray,
                  delta: int = 1) -> CameraErrors:
    """ATE, rotation, RPE and scale errors of world←camera poses (F, 3, 3) and centres (F, 3).

    The prediction may be up to scale: ATE fits a Sim(3) on the camera centres (prediction onto
    ground truth); RPE scales predicted relative translations by that fit's scale and compares poses
    `delta` frames apart. The rotation error fits its own rotation on the orientations, because
    centres alone do not fix it when the camera moves along a line. A camera whose true centre stays
    put (static, or turning in place), or whose estimated one never moves, has no scale:
    `sim3_scale` and `scale_error_pct` are then None.
    """
    scale, rotation, translation = umeyama(pred_t, gt_t, with_scale=True)
    aligned = apply_similarity(pred_t, scale, rotation, translation)
    ate = float(np.sqrt(np.mean(np.sum((aligned - gt_t) ** 2, axis=-1))))
    rigid = align(pred_t, gt_t, with_scale=False)
    ate_se3 = float(np.sqrt(np.mean(np.sum((rigid - gt_t) ** 2, axis=-1))))
    length = path_length(gt_t)
    has_scale = bool(np.sqrt(((gt_t - gt_t.mean(0)) ** 2).sum(-1).mean()) >= STILL_CAMERA_M
                     and np.ptp(pred_t, axis=0).max() > 0)
    aligned_R = rotation_alignment(pred_R, gt_R) @ pred_R
    rotation_errors = rotation_angle_deg(np.swapaxes(gt_R, -1, -2) @ aligned_R)
    rpe_trans = rpe_rot = None
    if len(gt_t) > delta:
        gt_rel_R, gt_rel_t = _relative_poses(gt_R, gt_t, delta)
        pred_rel_R, pred_rel_t = _relative_poses(pred_R, scale * pred_t, delta)
        rpe_trans = float(np.sqrt(np.mean(np.sum((pred_rel_t - gt_rel_t) ** 2, axis=-1))))
        rel_angles = rotation_angle_deg(np.swapaxes(gt_rel_R, -1, -2) @ pred_rel_R)
        rpe_rot = float(np.sqrt(np.mean(rel_angles**2)))
    return CameraErrors(
        frames=len(gt_t),
        ate_m=ate,
        ate_pct=100.0 * ate / length if length > 0 else None,
        ate_se3_m=ate_se3,
        rotation_deg=float(rotation_errors.mean()),
        rpe_trans_m=rpe_trans,
        rpe_rot_deg=rpe_rot,
        sim3_scale=float(scale) if has_scale else None,
        scale_error_pct=100.0 * abs(1.0 / scale - 1.0) if has_scale and scale > 0 else None,
    )


def _relative_poses(R: np.ndarray, t: np.ndarray, delta: int):
    """Pose of camera i+delta in camera i's frame: (R_i^T R_j, R_i^T (t_j - t_i))."""
    Ri_T = np.swapaxes(R[:-delta], -1, -2)
    return Ri_T @ R[delta:], (Ri_T @ (t[delta:] - t[:-delta])[..., None])[..., 0]


def gravity_errors(pred_R_wc: np.ndarray, gt_R_wc: np.ndarray) -> np.ndarray:
    """Per frame, the angle (degrees) between the estimated and the true up direction in the camera
    frame, from world←camera rotations (F, 3, 3) of two y-up worlds: how far the estimate tilts gravity."""
    pred_up, gt_up = pred_R_wc[:, UP_AXIS, :], gt_R_wc[:, UP_AXIS, :]  # R_wc^T e_y: world up, camera axes
    cosine = (pred_up * gt_up).sum(-1) / np.linalg.norm(pred_up, axis=-1) / np.linalg.norm(gt_up, axis=-1)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def focal_error_pct(pred_K: np.ndarray, gt_K: np.ndarray) -> float:
    """Relative error (%) of the estimated focal length (the mean of fx and fy) against the true one."""
    pred, gt = (pred_K[0, 0] + pred_K[1, 1]) / 2, (gt_K[0, 0] + gt_K[1, 1]) / 2
    return float(100.0 * abs(pred / gt - 1.0))


# ----- body: frame-wise -----


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean per-joint position error (mm) of each frame, (F, J, 3) inputs, no alignment."""
    return np.linalg.norm(pred - gt, axis=-1).mean(-1) * MM


def root_relative(joints: np.ndarray) -> np.ndarray:
    """Joints (F, J, 3) minus their hip midpoint, per frame."""
    return joints - joints[:, list(HIP_JOINTS)].mean(1, keepdims=True)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """MPJPE (mm) after a per-frame Sim(3) (Procrustes with scale) of the predicted joints onto GT."""
    scale, rotation, translation = umeyama(pred, gt, with_scale=True)
    aligned = scale[:, None, None] * pred @ np.swapaxes(rotation, -1, -2) + translation[:, None]
    return mpjpe(aligned, gt)


def windows(count: int, size: int) -> list[slice]:
    """Consecutive windows of `size` samples covering `count`; the last may be shorter."""
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


def wa_mpjpe(pred_world: np.ndarray, gt_world: np.ndarray, window: int = 100) -> np.ndarray:
    """Per-frame MPJPE (mm) after one Sim(3) per window, fitted on all joints of all its frames."""
    errors = []
    for part in windows(len(gt_world), window):
        errors.append(mpjpe(align(pred_world[part], gt_world[part]), gt_world[part]))
    return np.concatenate(errors) if errors else np.zeros(0)


def w_mpjpe(pred_world: np.ndarray, gt_world: np.ndarray, window: int = 100) -> np.ndarray:
    """Per-frame MPJPE (mm) after one Sim(3) per window, fitted on all joints of its first two frames.

    This is the published EMDB protocol (WHAM, followed by TRAM and GVHMR): the fit has a scale.
    """
    errors = []
    for part in windows(len(gt_world), window):
        head = slice(part.start, min(part.start + 2, part.stop))
        fit = umeyama(pred_world[head].reshape(-1, 3), gt_world[head].reshape(-1, 3))
        errors.append(mpjpe(apply_similarity(pred_world[part], *fit), gt_world[part]))
    return np.concatenate(errors) if errors else np.zeros(0)


def rte(pred_root: np.ndarray, gt_root: np.ndarray) -> np.ndarray | None:
    """Per-frame root translation error (%) after one rigid fit of the whole root trajectory (F, 3).

    Each frame's distance is divided by the GT root's path length; None when GT does not move.
    """
    length = path_length(gt_root)
    if length <= 0:
        return None
    aligned = align(pred_root, gt_root, with_scale=False)
    return 100.0 * np.linalg.norm(aligned - gt_root, axis=-1) / length


# ----- body: derivatives on contiguous frames -----


def contiguous_runs(frames: np.ndarray) -> list[slice]:
    """Slices of sorted frame numbers whose frames follow each other without a gap."""
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    edges = [0, *breaks.tolist(), len(frames)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def accel_error(pred: np.ndarray, gt: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Per-frame acceleration error (mm/frame²): mean joint norm of the second-difference difference."""
    errors = [np.zeros(0)]
    for run in contiguous_runs(frames):
        p, g = pred[run], gt[run]
        if len(p) >= 3:
            diff = (p[2:] - 2 * p[1:-1] + p[:-2]) - (g[2:] - 2 * g[1:-1] + g[:-2])
            errors.append(np.linalg.norm(diff, axis=-1).mean(-1) * MM)
    return np.concatenate(errors)


def jitter(joints: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    """Per-frame jitter in 10 m/s³ (the WHAM/GVHMR unit): mean joint norm of the third difference × fps³."""
    values = [np.zeros(0)]
    for run in contiguous_runs(frames):
        j = joints[run]
        if len(j) >= 4:
            jerk = (j[3:] - 3 * j[2:-1] + 3 * j[1:-2] - j[:-3]) * fps**3
            values.append(np.linalg.norm(jerk, axis=-1).mean(-1) / 10.0)
    return np.concatenate(values)


def foot_contact(gt_world: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    """(F, 2) whether each true foot joint (SMPL-24 left, right foot) is in contact: within
    CONTACT_HEIGHT_M of its lowest height over the rows and slower than CONTACT_SPEED_M_PER_S
    horizontally (its speed taken over the frame pair after the frame, or before at a run's end)."""
    feet = gt_world[:, list(FOOT_JOINTS)]
    low = feet[..., UP_AXIS] - feet[..., UP_AXIS].min(0) < CONTACT_HEIGHT_M
    horizontal = [axis for axis in range(3) if axis != UP_AXIS]
    slow = np.zeros_like(low)
    for run in contiguous_runs(frames):
        step = np.linalg.norm(np.diff(feet[run][..., horizontal], axis=0), axis=-1) * fps
        if len(step):
            slow[run] = np.concatenate([step, step[-1:]]) < CONTACT_SPEED_M_PER_S
    return low & slow


def foot_skating(pred_world: np.ndarray, gt_world: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    """Foot skating (mm/frame): how much farther each estimated foot joint moves horizontally than the
    true one, over frame pairs where the true foot is in contact (`foot_contact`) in both frames; 0 where
    it moves less. One sample per foot per such pair, so the ground truth itself scores exactly 0."""
    horizontal = [axis for axis in range(3) if axis != UP_AXIS]
    contact = foot_contact(gt_world, frames, fps)
    steps = [np.zeros(0)]
    for run in contiguous_runs(frames):
        pred_step, gt_step = (
            np.linalg.norm(np.diff(world[run][:, list(FOOT_JOINTS)][..., horizontal], axis=0), axis=-1) * MM
            for world in (pred_world, gt_world))
        planted = contact[run][1:] & contact[run][:-1]
        steps.append(np.maximum(pred_step - gt_step, 0.0)[planted])
    return np.concatenate(steps)


# ----- tracks -----


@dataclass
class Boxes:
    """A long table of boxes: `frame` (N,), `track_id` (N,), `box` (N, 4) x1, y1, x2, y2."""

    frame: np.ndarray
    track_id: np.ndarray
    box: np.ndarray

    def in_frame(self, frame: int) -> np.ndarray:
        return np.flatnonzero(self.frame == frame)


def match_tracks(gt: Boxes, pred: Boxes) -> dict[int, int]:
    """GT track id -> predicted track id maximising IoU summed over shared frames (Hungarian).

    Pairs that never overlap are left unmatched.
    """
    gt_ids, pred_ids = np.unique(gt.track_id), np.unique(pred.track_id)
    if not len(gt_ids) or not len(pred_ids):
        return {}
    overlap = np.zeros((len(gt_ids), len(pred_ids)))
    for frame in np.intersect1d(gt.frame, pred.frame):
        g, p = gt.in_frame(frame), pred.in_frame(frame)
        rows = np.searchsorted(gt_ids, gt.track_id[g])
        cols = np.searchsorted(pred_ids, pred.track_id[p])
        np.add.at(overlap, (rows[:, None], cols[None, :]), box_iou(gt.box[g], pred.box[p]))
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    return {int(gt_ids[r]): int(pred_ids[c]) for r, c in zip(rows, cols) if overlap[r, c] > 0}


@dataclass
class TrackingErrors:
    """Detection and identity counts of a tracker against GT boxes (see `tracking_errors`)."""

    gt_boxes: int
    pred_boxes: int
    matched_boxes: int
    tall_gt_boxes: int
    tall_matched_boxes: int
    id_switches: int
    track_pairs: dict[int, int] = field(default_factory=dict)
    fragmentations: int = 0  # times a GT track, once matched, went unmatched and was matched again
    identity_matches: int = 0  # IDTP: boxes matched (IoU >= threshold) to their track's one global partner

    @property
    def idf1(self) -> float | None:
        """Identity F1 (Ristani et al. 2016): 2 IDTP / (GT boxes + predicted boxes)."""
        total = self.gt_boxes + self.pred_boxes
        return 2 * self.identity_matches / total if total else None

    @property
    def recall(self) -> float | None:
        return self.matched_boxes / self.gt_boxes if self.gt_boxes else None

    @property
    def tall_recall(self) -> float | None:
        return self.tall_matched_boxes / self.tall_gt_boxes if self.tall_gt_boxes else None

    @property
    def precision(self) -> float | None:
        return self.matched_boxes / self.pred_boxes if self.pred_boxes else None

    @property
    def mota(self) -> float | None:
        if not self.gt_boxes:
            return None
        misses = self.gt_boxes - self.matched_boxes
        false_positives = self.pred_boxes - self.matched_boxes
        return 1.0 - (misses + false_positives + self.id_switches) / self.gt_boxes


def tracking_errors(gt: Boxes, pred: Boxes, iou_threshold: float = 0.5,
                    tall_px: float = 100.0) -> TrackingErrors:
    """Per-frame CLEAR-MOT matching (IoU >= threshold) of predicted to GT boxes.

    In each frame, a GT track keeps last frame's predicted id while their boxes still overlap by the
    threshold; the other boxes are paired by Hungarian assignment on IoU. An ID switch is a GT track
    matched to a different predicted id than at its previous match; a fragmentation a GT track
    matched again after frames of its own where it was not. "Tall" GT boxes are at least `tall_px`
    high. IDF1 pairs whole tracks once (Hungarian on the number of frames they overlap by the threshold).
    """
    previous: dict[int, int] = {}
    lapsed: set[int] = set()  # GT tracks matched before and unmatched in their latest frame
    matched = tall_matched = switches = fragmentations = 0
    for g, p, pairs in _clear_mot_frames(gt, pred, iou_threshold):
        for row, col in pairs:
            gt_id, pred_id = int(gt.track_id[g[row]]), int(pred.track_id[p[col]])
            switches += gt_id in previous and previous[gt_id] != pred_id
            fragmentations += gt_id in lapsed
            lapsed.discard(gt_id)
            previous[gt_id] = pred_id
            box = gt.box[g[row]]
            tall_matched += box[3] - box[1] >= tall_px
        unmatched = set(range(len(g))) - {row for row, _ in pairs}
        lapsed |= {int(gt.track_id[g[row]]) for row in unmatched if int(gt.track_id[g[row]]) in previous}
        matched += len(pairs)
    heights = gt.box[:, 3] - gt.box[:, 1]
    return TrackingErrors(
        gt_boxes=len(gt.frame),
        pred_boxes=len(pred.frame),
        matched_boxes=matched,
        tall_gt_boxes=int((heights >= tall_px).sum()),
        tall_matched_boxes=int(tall_matched),
        id_switches=int(switches),
        track_pairs=match_tracks(gt, pred),
        fragmentations=int(fragmentations),
        identity_matches=_identity_matches(gt, pred, iou_threshold),
    )


def tracks_per_person(gt: Boxes, pred: Boxes, iou_threshold: float = 0.5) -> dict[int, int]:
    """GT track id -> how many predicted tracks the per-frame matching pairs with that person: 1 for a
    person followed by one track, more when the person is split into fragments or an id switch hands
    them to another track. A box that merely overlaps a person while it is matched to someone else
    (the front person of two who overlap) does not count."""
    matched_ids: dict[int, set[int]] = {int(i): set() for i in np.unique(gt.track_id)}
    for g, p, pairs in _clear_mot_frames(gt, pred, iou_threshold):
        for row, col in pairs:
            matched_ids[int(gt.track_id[g[row]])].add(int(pred.track_id[p[col]]))
    return {gt_id: len(ids) for gt_id, ids in matched_ids.items()}


def _clear_mot_frames(gt: Boxes, pred: Boxes, threshold: float):
    """Per GT frame: (GT rows, predicted rows, matched (row, col) pairs), a GT track keeping its
    previous predicted id while their boxes still overlap by the threshold (CLEAR MOT)."""
    previous: dict[int, int] = {}
    for frame in np.unique(gt.frame):
        g, p = gt.in_frame(frame), pred.in_frame(frame)
        pairs = _frame_matches(gt.track_id[g], pred.track_id[p], box_iou(gt.box[g], pred.box[p]),
                               previous, threshold)
        for row, col in pairs:
            previous[int(gt.track_id[g[row]])] = int(pred.track_id[p[col]])
        yield g, p, pairs


def _identity_matches(gt: Boxes, pred: Boxes, threshold: float) -> int:
    """IDTP: the most boxes matched when each GT track is paired with at most one predicted track."""
    gt_ids, pred_ids = np.unique(gt.track_id), np.unique(pred.track_id)
    if not len(gt_ids) or not len(pred_ids):
        return 0
    together = np.zeros((len(gt_ids), len(pred_ids)))
    for frame in np.intersect1d(gt.frame, pred.frame):
        g, p = gt.in_frame(frame), pred.in_frame(frame)
        rows = np.searchsorted(gt_ids, gt.track_id[g])
        cols = np.searchsorted(pred_ids, pred.track_id[p])
        np.add.at(together, (rows[:, None], cols[None, :]), box_iou(gt.box[g], pred.box[p]) >= threshold)
    rows, cols = linear_sum_assignment(together, maximize=True)
    return int(together[rows, cols].sum())


def _frame_matches(gt_ids, pred_ids, iou, previous, threshold) -> list[tuple[int, int]]:
    """Row/column pairs of one frame: continued correspondences first, then Hungarian on the rest."""
    pairs = []
    free_rows, free_cols = set(range(len(gt_ids))), set(range(len(pred_ids)))
    for row, gt_id in enumerate(gt_ids):
        for col in sorted(free_cols):
            if previous.get(int(gt_id)) == int(pred_ids[col]) and iou[row, col] >= threshold:
                pairs.append((row, col))
                free_rows.discard(row)
                free_cols.discard(col)
                break
    rows, cols = sorted(free_rows), sorted(free_cols)
    if rows and cols:
        sub = iou[np.ix_(rows, cols)]
        for r, c in zip(*linear_sum_assignment(sub, maximize=True)):
            if sub[r, c] >= threshold:
                pairs.append((rows[r], cols[c]))
    return pairs


# ----- 2D keypoints -----


def keypoint_errors(pred_xy: np.ndarray, gt_xy: np.ndarray, gt_visible: np.ndarray,
                    pck_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Pixel errors of GT-visible keypoints, and whether each is within `pck_fraction` of the person's height.

    `pred_xy`, `gt_xy`: (N, K, 2); `gt_visible`: (N, K) bool. The height is the vertical extent of
    the visible GT keypoints of that detection. Returns two flat arrays, one entry per visible keypoint.
    """
    distances = np.linalg.norm(pred_xy - gt_xy, axis=-1)
    bottom = np.where(gt_visible, gt_xy[..., 1], -np.inf).max(1)
    top = np.where(gt_visible, gt_xy[..., 1], np.inf).min(1)
    height = np.where(gt_visible.any(1), bottom - top, 0.0)
    within = distances <= pck_fraction * height[:, None]
    return distances[gt_visible], within[gt_visible]


def size_ratios(pred_3d: np.ndarray, gt_3d: np.ndarray) -> np.ndarray:
    """Per detection, the scale of the Sim(3) that fits the predicted metric landmarks (N, K, 3) onto
    GT's: how much larger the person is than the keypoint model says. Landmarks not finite on both
    sides are left out; a detection with fewer than 3 gets NaN."""
    both = np.isfinite(pred_3d).all(-1) & np.isfinite(gt_3d).all(-1)
    ratios = np.full(len(gt_3d), np.nan)
    for row in np.flatnonzero(both.sum(1) >= 3):
        ratios[row] = umeyama(pred_3d[row, both[row]], gt_3d[row, both[row]])[0]
    return ratios
