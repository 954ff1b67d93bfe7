"""One gravity-aligned world frame for every person, and the world-frame motion optimisation.

The camera stage's world is its first camera; the scale stage makes it metric. Camera-frame bodies
are composed with that trajectory, then:

1. **Ground**: the lowest sole points, in frames where they are near the lowest the person's feet get
   around then, lie on the ground. A plane is fitted to them robustly, its normal kept near the bodies'
   mean up direction (ankles to head) by a prior (so that contacts along one line still give a plane).
   The world frame is y along that normal, origin under the first camera, z along the first camera's
   view on the ground.
2. **Size**: the scene comes out of the body and scale stages at the size of average people; it is
   resized towards the camera's usual height above that ground (`scene_scale`), and each person about
   the camera until their feet stand on the ground that everyone's define (`ground_contact_scale`).
3. **Contacts**: a heel or toe is planted where its keypoint moves in the image as a point fixed in the
   world would (slower than `contact_speed`, with the camera's motion taken out), or where the fitted
   landmark is near the ground and slow, or where a motion prior that predicts contacts (HuMoR's
   decoder) finds it planted; a foot is in contact when its heel or toe is.
4. **Optimisation** per gap-free segment of a track (HuMoR/WHAM-style): root trajectory, joint
   rotations and shape, with 2D reprojection through the moving camera, 3D landmark agreement, a
   motion prior (a backend; the embedded one penalises the accelerations of the pelvis and of the
   joints relative to it), heels and toes kept from sliding along the ground while in contact, no
   ground penetration, and consistency with the body stage's shape and poses.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
from scipy.ndimage import binary_dilation, minimum_filter1d, uniform_filter1d
from scipy.optimize import brentq, least_squares
from scipy.spatial.transform import Rotation, Slerp

from vidcli.body.models import BodyModel, pose_numpy
from vidcli.body.skeletons import SMPL_24
from vidcli.mocap.objectives import (SOLES, Observations, PoseParameters, landmark3d_term, minimise,
                                     reprojection_term)
from vidcli.mocap.options import WorldOptions

GROUND_QUANTILE = 0.1
_HEAD = SMPL_24.index("head")
_ANKLES = [SMPL_24.index("left_ankle"), SMPL_24.index("right_ankle")]
HEIGHT_LOGIT_RANGE = 9.0  # the height phenotype's logit beyond which the body's size no longer changes
STILL_SPAN = 2  # frames either side over which `detect_contact` measures a keypoint's motion


@dataclass
class Ground:
    """The ground plane in the input (camera stage) frame: n . x + offset = height above it, and where its
    normal (gravity's up) came from: `people_frames`, the summed weights of the upright, still person
    frames; `camera_frames`, the camera's up counted as that many frames; `level_deg`, how far the camera
    levelling turned that blend."""

    normal: np.ndarray
    offset: float
    candidates: int
    people_frames: float
    camera_frames: float
    level_deg: float


@dataclass
class Segment:
    """One gap-free piece of a track, in the world frame: `frames` (F,), `local` (F, 24, 3, 3) (root:
    world orientation), `root` (F, 3), `free` (S,) shape, `observed` (F,) rows that have keypoints
    (the others were interpolated), and the keypoints (F, 33, 3) / 3D landmarks (F, 33, 3), zero where
    not observed."""

    track_id: int
    frames: np.ndarray
    local: np.ndarray
    root: np.ndarray
    free: np.ndarray
    observed: np.ndarray
    keypoints2d: np.ndarray
    world3d: np.ndarray


def split_segments(frames: np.ndarray, max_gap: int) -> list[np.ndarray]:
    """Index arrays into sorted `frames`, cut where more than `max_gap` frames are missing."""
    cuts = np.flatnonzero(np.diff(frames) > max_gap + 1) + 1
    return np.split(np.arange(len(frames)), cuts)


def fill_gaps(frames: np.ndarray, local: np.ndarray, root: np.ndarray):
    """Every frame from first to last: rotations slerped and roots interpolated linearly across missing
    frames; returns (all frames, local, root, observed mask)."""
    full = np.arange(frames[0], frames[-1] + 1)
    observed = np.isin(full, frames)
    if observed.all():
        return full, local, root, observed
    filled_root = np.stack([np.interp(full, frames, root[:, axis]) for axis in range(3)], axis=1)
    filled_local = np.empty((len(full),) + local.shape[1:])
    for joint in range(local.shape[1]):
        filled_local[:, joint] = Slerp(frames, Rotation.from_matrix(local[:, joint]))(full).as_matrix()
    return full, filled_local, filled_root, observed


def body_up(joints: np.ndarray) -> np.ndarray:
    """Unit up directions (F, 3) of posed bodies (F, 24, 3): from between the ankles to the head. The
    whole body's axis is nearer the vertical than the pelvis's own y axis, which tilts with the hips'
    flexion (on four benchmark clips, 2.2-4.6 degrees from the true up on average against 6.6-11.1)."""
    axis = joints[:, _HEAD] - joints[:, _ANKLES].mean(axis=1)
    return axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)


def estimate_up(ups: list[np.ndarray], observed: list[np.ndarray], R_wc: np.ndarray, fps: float,
                options: WorldOptions) -> tuple[np.ndarray, float, float, float]:
    """Gravity's up in the input frame from the people and the camera: (up, people frames, camera
    frames, levelling in degrees).

    `ups`: per segment (F, 3) body up directions (`body_up`); `observed` (F,) their rows with keypoints;
    `R_wc` (C, 3, 3) the camera over the clip. A person is evidence of the vertical only while standing
    upright and still: each frame weighs exp(-a^2 / 2 `up_upright_deg`^2) exp(-w^2 / 2 `up_still_deg_s`^2),
    a its angle from the current estimate and w how fast its up direction turns. The estimate starts
    at the camera's mean up (image up), which stays in the blend counted as `camera_up_frames` frames,
    so that a clip where nobody stands (lying, crouching, tumbling) falls back to it; two reweighting
    rounds. Then the camera levels the blend: a camera is seldom rolled, so every frame's image x axis
    is near horizontal (scale `level_roll_deg`), against the blend at scale `up_spread_deg`. A panning
    or orbiting camera's x axes span the ground, which pins the up; a still one fixes only the side tilt.
    """
    camera_up = -R_wc[:, :, 1].mean(axis=0)
    camera_up /= np.linalg.norm(camera_up)
    up, camera_frames, people_frames = camera_up, options.camera_up_frames, 0.0
    for _ in range(2):
        total, people_frames = camera_frames * camera_up, 0.0
        for u, seen in zip(ups, observed):
            turn = np.degrees(np.linalg.norm(np.gradient(u, axis=0), axis=-1)) * fps if len(u) > 1 else 0.0
            angle = np.degrees(np.arccos(np.clip(u @ up, -1.0, 1.0)))
            weight = (np.exp(-0.5 * (angle / options.up_upright_deg) ** 2)
                      * np.exp(-0.5 * (turn / options.up_still_deg_s) ** 2) * seen)
            total = total + weight @ u
            people_frames += float(weight.sum())
        up = total / np.linalg.norm(total)
    basis = _perpendicular_basis(up)
    x_axes = R_wc[:, :, 0]
    roll_scale = np.sin(np.radians(options.level_roll_deg)) * np.sqrt(len(x_axes))

    def residuals(tilt: np.ndarray) -> np.ndarray:
        normal = Rotation.from_rotvec(basis @ tilt).apply(up)
        return np.r_[x_axes @ normal / roll_scale, tilt / np.radians(options.up_spread_deg)]

    tilt = least_squares(residuals, np.zeros(2)).x
    level = float(np.degrees(np.linalg.norm(tilt)))
    return Rotation.from_rotvec(basis @ tilt).apply(up), people_frames, camera_frames, level


def estimate_ground(soles: list[np.ndarray], ups: list[np.ndarray], observed: list[np.ndarray],
                    R_wc: np.ndarray, fps: float, options: WorldOptions) -> Ground:
    """The ground: normal gravity's up (`estimate_up`), height the lower envelope of the feet's low points.

    `soles`: per segment (F, 2, 2, 3): left/right foot, heel/toe positions over consecutive frames. The
    candidates are, per frame, the lowest sole point when it lies within `contact_height` of the lowest
    any sole point of that person gets within a second (so feet in the air, and frames of a jump, are
    left out). The plane sits at the `GROUND_QUANTILE` of their heights: soles stand on the ground, and
    while they roll from heel to toe their landmarks are above it more often than not. (A plane fitted to
    these points, its tilt held near the people's up by a prior, was worse than the up alone on the tuning
    split, 4.9 degrees from gravity on average against 3.5: the feet's depths are too noisy.)
    """
    normal, people_frames, camera_frames, level = estimate_up(ups, observed, R_wc, fps, options)
    standing = [standing_heights(sole @ normal, fps, options.contact_height) for sole in soles]
    points = np.concatenate([low[where] for low, where in standing])
    offset = -float(np.quantile(points, GROUND_QUANTILE))
    return Ground(normal, offset, len(points), people_frames, camera_frames, level)


def standing_heights(heights: np.ndarray, fps: float, contact_height: float) -> tuple[np.ndarray, np.ndarray]:
    """One person's lowest sole point per frame and where it stands: `heights` (F, 2, 2) of the heels and
    toes over consecutive frames; (F,) heights and (F,) whether the frame's lowest point is within
    `contact_height` of the lowest within a second (feet in the air and jumps are left out)."""
    window = max(3, int(round(fps)) | 1)
    low = heights.reshape(len(heights), -1).min(axis=1)
    return low, low - minimum_filter1d(low, window, mode="nearest") < contact_height


def ground_contact_scale(pieces: list[tuple[np.ndarray, np.ndarray]], camera_height: float, fps: float,
                         contact_height: float) -> float:
    """The factor, about the camera, that stands one person on the shared ground. `pieces`: per gap-free
    segment of their track, (F, 2, 2) heights of their heels and toes above the ground and (F,) the frames
    whose heel and toe keypoints are all seen; `camera_height` the camera's. A person whose fitted size is
    wrong stands at the wrong depth, so above or below the ground that everyone's feet define
    (two_turns_dolly's second walker, 0.5 m above it); resizing them about the camera keeps their image
    and moves their feet along the viewing rays, from `camera_height` - h below the camera to
    `camera_height` (h: the `GROUND_QUANTILE` of their standing heights in those frames). One factor per
    person: their height does not change over the clip. Fewer than a second of such frames, or feet above
    the camera, leave them as they are."""
    usable = []
    for heights, visible in pieces:
        low, standing = standing_heights(heights, fps, contact_height)
        usable.append(low[standing & visible])
    usable = np.concatenate(usable)
    if len(usable) < fps:
        return 1.0
    lift = float(np.quantile(usable, GROUND_QUANTILE))
    return camera_height / (camera_height - lift) if lift < camera_height else 1.0


def scene_scale(camera_heights: np.ndarray, options: WorldOptions) -> float:
    """The factor that resizes the whole scene (people, their paths, the camera's travel) towards metres.

    The scene comes out of the body and scale stages at the size of average people: BlazePose's 3D
    landmarks have nearly one size whoever they see (fitted bodies 2.54-2.74 m of bones on the benchmark
    against 1.70-3.47 true), so a short person stands too far and walks too far. The camera's height
    above the ground (`camera_heights`, per frame, in that scene) is the other thing whose metric size
    is known roughly: people film from eye level (Hoiem et al., "Putting objects in perspective", 2006).
    The two guesses are blended in log scale, `camera_height_weight` towards the camera's; a camera at
    or below the ground, or `camera_height` 0, leaves the scene as it is.
    """
    height = float(np.median(camera_heights))
    if options.camera_height <= 0 or height <= 0:
        return 1.0
    return float((options.camera_height / height) ** options.camera_height_weight)


def resized_shape(model: BodyModel, free: np.ndarray, factor: float) -> np.ndarray:
    """Free shape parameters (S,) of a body `factor` times the size of `free`'s (the summed distances of its
    joints from the pelvis), found along the model's `height` shape parameter (Anny's phenotype: 0.68-1.32
    times the average body); a factor beyond its reach gives the nearest it has."""
    if factor == 1.0:  # also every model without a height parameter (the world stage never resizes those)
        return np.array(free, float)
    height = model.shape_labels.index("height")

    def size(height_logit: float) -> float:
        changed = np.array(free, float)
        changed[height] = height_logit
        with torch.no_grad():
            joints = model.rest(torch.from_numpy(changed))[0]
        return float((joints - joints[0]).norm(dim=-1).sum())

    target = factor * size(free[height])
    low, high = -HEIGHT_LOGIT_RANGE, HEIGHT_LOGIT_RANGE
    smallest, largest = size(low), size(high)
    resized = np.array(free, float)
    resized[height] = low if target <= smallest else high if target >= largest else brentq(
        lambda value: size(value) - target, low, high, xtol=1e-4)
    return resized


def _perpendicular_basis(direction: np.ndarray) -> np.ndarray:
    """(3, 2) two unit vectors perpendicular to `direction` and to each other."""
    helper = np.eye(3)[np.argmin(np.abs(direction))]
    first = np.cross(direction, helper)
    first /= np.linalg.norm(first)
    return np.stack([first, np.cross(direction, first)], axis=1)


def world_alignment(ground: Ground, R_wc0: np.ndarray, t_wc0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, origin) with X_world = R @ (X_input - origin): y along the ground normal, origin on the
    ground under the first camera, z along the first camera's viewing direction on the ground."""
    y = ground.normal
    forward = R_wc0[:, 2] - (R_wc0[:, 2] @ y) * y
    if np.linalg.norm(forward) < 1e-6:  # the first camera looks straight down: use its image up
        forward = -R_wc0[:, 1] - (-R_wc0[:, 1] @ y) * y
    z = forward / np.linalg.norm(forward)
    x = np.cross(y, z)
    origin = t_wc0 - (t_wc0 @ y + ground.offset) * y
    return np.stack([x, y, z]), origin


def detect_contact(landmarks: np.ndarray, keypoints2d: np.ndarray, observed: np.ndarray, R_wc: np.ndarray,
                   t_wc: np.ndarray, K: np.ndarray, fps: float, options: WorldOptions) -> np.ndarray:
    """(F, 2, 2) contact of the left/right foot's heel/toe over consecutive frames, seen either way:

    - in the image: the keypoint moves as a point fixed in the world would. Its pixel displacement over
      `STILL_SPAN` frames either side, less that of its fitted world position (`landmarks` (F, 33, 3))
      seen through the moving camera, turned into metres at its depth, is slower than `contact_speed`
      (frames whose neighbours lack keypoints (`observed` (F,)), and keypoints of visibility below 1/2,
      are not still); each stance found so is widened by a frame at either end;
    - in the fit: the landmark is within `contact_height` of y = 0 and slower than `contact_speed`
      (its position smoothed over 5 frames).

    The image finds planted feet that the fit lets slide (BlazePose's legs are noisy); the fit finds
    those whose keypoints jitter. A foot is in contact when its heel or toe is.
    """
    points = landmarks[:, SOLES]  # (F, 2, 2, 3)
    smoothed = uniform_filter1d(points, size=5, axis=0, mode="nearest")
    speed = np.linalg.norm(np.gradient(smoothed, axis=0), axis=-1) * fps if len(points) > 1 else np.inf
    contact = (points[..., 1] < options.contact_height) & (speed < options.contact_speed)
    still = np.zeros_like(contact)
    pixels = keypoints2d[:, SOLES]  # (F, 2, 2, 3)
    for i in range(len(points)):
        a, b = max(i - STILL_SPAN, 0), min(i + STILL_SPAN, len(points) - 1)
        if b == a or not (observed[a] and observed[b]):
            continue
        seen = [(points[i] - t_wc[f]) @ R_wc[f] for f in (a, b)]  # camera coordinates (2, 2, 3)
        projected = [c[..., :2] / c[..., 2:3] * np.diag(K)[:2] for c in seen]
        moved = (pixels[b, ..., :2] - pixels[a, ..., :2]) - (projected[1] - projected[0])
        metres = np.linalg.norm(moved, axis=-1) * seen[0][..., 2] / K[0, 0]
        visible = np.minimum(pixels[a, ..., 2], pixels[b, ..., 2]) > 0.5
        still[i] = visible & (metres / (b - a) * fps < options.contact_speed)
    # The motion is measured over frames either side, which reach into the swing before and after a
    # stance: stances come out short at each end, so the image's are widened by a frame.
    still = binary_dilation(still, structure=np.ones((3, 1, 1), bool))
    return fill_short_gaps(contact | still, options.contact_gap)


def fill_short_gaps(contact: np.ndarray, gap: int) -> np.ndarray:
    """`contact` (F, ...) with every run of at most `gap` frames out of contact between two frames in
    contact filled in: a stance that the detection breaks for a frame would let the skating term release
    the foot there, and the fit spends the break moving it (the slides left on the tuning split were mostly
    such breaks and the first frames of a stance)."""
    filled = contact.copy()
    flat = filled.reshape(len(filled), -1)
    for column in flat.T:
        planted = np.flatnonzero(column)
        for before, after in pairwise(planted):
            if 1 < after - before <= gap + 1:
                column[before + 1:after] = True
    return filled


@dataclass
class SegmentResult:
    """An optimised segment: `local` (F, 24, 3, 3), `root` (F, 3), `free` (S,), `joints` (F, 24, 3),
    `landmarks` (F, 33, 3) world, `contact` (F, 2), and the energy terms at the end."""

    local: np.ndarray
    root: np.ndarray
    free: np.ndarray
    joints: np.ndarray
    landmarks: np.ndarray
    contact: np.ndarray
    energy: dict


def optimise_segment(model: BodyModel, segment: Segment, R_wc: np.ndarray, t_wc: np.ndarray, K: np.ndarray,
                     fps: float, options: WorldOptions, prior) -> SegmentResult:
    """Optimise one segment in the world frame; `R_wc` (F, 3, 3), `t_wc` (F, 3): the camera at its frames;
    `prior` a motion prior (`vidcli.backends.protocols.MotionPrior`).

    Two passes: without the contact terms (which smooths the per-frame fits), then, with the contacts
    detected on that result, with them.
    """
    obs = Observations.from_arrays(segment.keypoints2d, segment.world3d, model.landmark_valid,
                                   options.occluded_3d, options.feet_3d)
    keep = torch.from_numpy(segment.observed.astype(float))[:, None]
    obs = Observations(obs.uv, obs.weight_2d * keep, obs.world3d, obs.weight_3d * keep)
    R_cw = torch.from_numpy(np.swapaxes(R_wc, -1, -2).copy())
    t = torch.from_numpy(np.asarray(t_wc, float))
    K_t = torch.from_numpy(np.asarray(K, float))
    frames = len(segment.frames)
    consecutive = torch.ones(frames - 1, dtype=torch.bool)
    free_body = torch.from_numpy(segment.free)
    free_scale = torch.from_numpy(model.free_scale)
    params = PoseParameters(segment.local, segment.root, segment.free)

    def terms(contact: torch.Tensor) -> dict:
        local = params.local()
        _, joints, landmarks = params.pose(model, local)
        cam = torch.einsum("fij,fpj->fpi", R_cw, landmarks - t[:, None])
        soles = landmarks[:, SOLES]  # (F, 2, 2, 3)
        slide = ((soles[1:] - soles[:-1])[..., [0, 2]] ** 2).sum(-1)  # (F - 1, 2, 2), along the ground
        return {
            "reprojection": reprojection_term(cam, obs, K_t, options.sigma_px).sum(),
            "landmarks_3d": landmark3d_term(cam, obs, options.sigma_m).sum(),
            "prior": prior.energy(params.root, joints, consecutive, local),
            "skating": ((contact[1:] & contact[:-1]) * slide).sum() / options.skate_sigma**2,
            "penetration": (torch.relu(-soles[..., 1]) ** 2).sum() / options.ground_sigma**2,
            "shape": options.shape_consistency * frames * (((params.free - free_body) / free_scale)**2).sum(),
            "pose": options.pose_consistency * (params.delta**2).sum(),
        }

    no_contact = torch.zeros(frames, 2, 2, dtype=torch.bool)
    unknowns = [params.delta, params.root, params.free]
    minimise(unknowns, lambda: sum(terms(no_contact).values()), options.iterations)
    with torch.no_grad():
        smoothed = params.pose(model)[2].numpy()
    contact = detect_contact(smoothed, segment.keypoints2d, segment.observed, R_wc, t_wc, K, fps, options)
    with torch.no_grad():
        local = params.local()
        predicted = prior.contacts(params.root, params.pose(model, local)[1], local)
    contact = torch.from_numpy(contact if predicted is None else contact | predicted)
    minimise(unknowns, lambda: sum(terms(contact).values()), options.iterations)
    with torch.no_grad():
        energy = {name: round(float(value), 3) for name, value in terms(contact).items()}
        local = params.local().numpy()
    root, free = params.root.detach().numpy().copy(), params.free.detach().numpy().copy()
    _, joints, landmarks = pose_numpy(model, model.shape(free), local, root)
    contact = detect_contact(landmarks, segment.keypoints2d, segment.observed, R_wc, t_wc, K, fps,
                             options).any(axis=2)
    return SegmentResult(local, root, free, joints, landmarks, contact, energy)
