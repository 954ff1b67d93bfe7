"""Retargeting a driving OpenPose-18 skeleton onto the reference person's body, in the reference image.

Each limb of the output is the driving limb scaled by its own ratio: the limb's length on the
reference over its length in the driving video (the 90th percentile over the frames, so that a
foreshortened frame does not set it). A limb keeps the driving limb's direction and foreshortening
and the reference's proportions. The skeleton hangs from the neck, which moves like the driving
neck, scaled by the global scale of the anchor frame (the ratio of the summed limb lengths there)
and placed so that at the anchor frame it is where the reference's neck is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcli.animate import skeleton
from vidcli.errors import InputError

LENGTH_PERCENTILE = 90
# Left and right counterparts of each limb, for a limb the reference does not show.
_MIRROR = {0: 1, 1: 0, 2: 4, 4: 2, 3: 5, 5: 3, 6: 9, 9: 6, 7: 10, 10: 7, 8: 11, 11: 8, 12: 12, 13: 15, 15: 13,
           14: 16, 16: 14}


@dataclass
class Retargeted:
    keypoints: np.ndarray  # (F, 18, 3) reference-image pixels, confidence 1 where known, else 0
    depth: np.ndarray  # (F, 18) metres relative to the hips, larger is farther; NaN where unknown
    held: np.ndarray  # (F,) frames without the driving person, whose pose is held or interpolated
    anchor: int  # the frame that set the global scale and placement
    scale: float  # reference pixels per driving pixel at the anchor frame
    limb_ratios: np.ndarray  # (17,) per limb: reference length / driving length


def limb_lengths(points: np.ndarray) -> np.ndarray:
    """Per limb length (..., 17), NaN where either end is missing."""
    points = np.asarray(points, float)
    parents, children = np.array(skeleton.LIMBS).T
    vectors = points[..., children, :2] - points[..., parents, :2]
    both = skeleton.visible(points)[..., parents] & skeleton.visible(points)[..., children]
    return np.where(both, np.linalg.norm(vectors, axis=-1), np.nan)


def retarget(driving: np.ndarray, present: np.ndarray, reference: np.ndarray, driving_depth: np.ndarray,
             anchor_frame: int = 0, interpolate: bool = False) -> Retargeted:
    """Map driving keypoints (F, 18, 3) of the frames where `present` onto the reference keypoints (18, 3).

    The anchor is the first frame at or after `anchor_frame` that shows the driving person. Frames
    without the driving person hold the nearest earlier pose (the first pose before it), or with
    `interpolate` blend linearly between the poses around them. A limb missing in a frame keeps
    its direction from the last frame that showed it (the reference's direction before that).
    """
    driving = np.asarray(driving, float)
    present = np.asarray(present, bool)
    frames = len(driving)
    shown = np.flatnonzero(present)
    later = shown[shown >= anchor_frame]
    if len(later) == 0:
        raise InputError(f"no frame at or after frame {anchor_frame} of the driving video shows a person")
    anchor = int(later[0])

    reference_lengths = limb_lengths(reference)
    driving_lengths = _typical_lengths(limb_lengths(driving[shown]))
    anchor_lengths = limb_lengths(driving[anchor])
    both = ~np.isnan(reference_lengths) & ~np.isnan(anchor_lengths)
    if not both.any():
        raise InputError(f"the reference and frame {anchor} of the driving video show no limb in common")
    scale = float(reference_lengths[both].sum() / anchor_lengths[both].sum())
    reference_lengths = _complete_lengths(reference_lengths, driving_lengths, scale)
    ratios = reference_lengths / driving_lengths

    out = np.zeros((frames, skeleton.COUNT, 3))
    depth = np.full((frames, skeleton.COUNT), np.nan)
    parents, children = np.array(skeleton.LIMBS).T
    reference_vectors = reference[children, :2] - reference[parents, :2]
    shown_limbs = skeleton.visible(reference)[parents] & skeleton.visible(reference)[children]
    last_vectors = np.where(shown_limbs[:, None], reference_vectors, np.nan)
    for limb in range(len(skeleton.LIMBS)):  # a limb the reference lacks starts from its mirror image
        if np.isnan(last_vectors[limb]).any() and not np.isnan(last_vectors[_MIRROR[limb]]).any():
            last_vectors[limb] = last_vectors[_MIRROR[limb]] * [-1, 1]
    anchor_neck = driving[anchor, skeleton.NECK, :2]
    reference_neck = reference[skeleton.NECK, :2]
    for t in shown:
        points = driving[t]
        vectors = points[children, :2] - points[parents, :2]
        seen = skeleton.visible(points)[parents] & skeleton.visible(points)[children]
        last_vectors[seen] = vectors[seen] * ratios[seen, None]
        neck = reference_neck + scale * (points[skeleton.NECK, :2] - anchor_neck)
        out[t] = _chain(neck, last_vectors)
        depth[t] = driving_depth[t]
    held = ~present
    _fill_missing(out, depth, shown, interpolate)
    return Retargeted(out, depth, held, anchor, scale, ratios)


def _typical_lengths(lengths: np.ndarray) -> np.ndarray:
    """Per limb, the LENGTH_PERCENTILE-th percentile of its lengths (F, 17) over the frames showing it."""
    typical = np.full(lengths.shape[1], np.nan)
    for limb in range(lengths.shape[1]):
        seen = lengths[~np.isnan(lengths[:, limb]), limb]
        if seen.size:
            typical[limb] = np.percentile(seen, LENGTH_PERCENTILE)
    return typical


def _complete_lengths(reference: np.ndarray, driving: np.ndarray, scale: float) -> np.ndarray:
    """Reference limb lengths, a missing one taken from its mirror limb, else the driving one x scale."""
    lengths = reference.copy()
    for limb in np.flatnonzero(np.isnan(lengths)):
        mirror = reference[_MIRROR[limb]]
        lengths[limb] = mirror if not np.isnan(mirror) else driving[limb] * scale
    return lengths


def _chain(neck: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Keypoints (18, 3) from the neck position and each limb's vector (parents precede children)."""
    points = np.zeros((skeleton.COUNT, 3))
    points[skeleton.NECK, :2] = neck
    points[skeleton.NECK, 2] = 1.0
    for (parent, child), vector in zip(skeleton.LIMBS, vectors):
        if points[parent, 2] and not np.isnan(vector).any():
            points[child, :2] = points[parent, :2] + vector
            points[child, 2] = 1.0
    return points


def _fill_missing(points: np.ndarray, depth: np.ndarray, shown: np.ndarray, interpolate: bool) -> None:
    """Give frames outside `shown` the pose of the nearest shown frame before (or after) them, or with
    `interpolate` a linear blend between the shown frames around them."""
    frames = np.arange(len(points))
    before = np.searchsorted(shown, frames, side="right") - 1
    previous = shown[np.clip(before, 0, None)]
    following = shown[np.clip(before + 1, None, len(shown) - 1)]
    previous = np.where(before < 0, shown[0], previous)
    weight = np.zeros(len(frames))
    if interpolate:
        gap = following - previous
        weight = np.where((gap > 0) & (before >= 0), (frames - previous) / np.maximum(gap, 1), 0.0)
    missing = np.setdiff1d(frames, shown)
    w = weight[missing, None, None]
    points[missing] = (1 - w) * points[previous[missing]] + w * points[following[missing]]
    depth[missing] = (1 - w[:, :, 0]) * depth[previous[missing]] + w[:, :, 0] * depth[following[missing]]
