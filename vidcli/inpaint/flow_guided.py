"""Flow-guided video inpainting from classical parts, the approach of FGVC, E2FGVI and ProPainter
without their networks.

1. Flow completion: the flow of each consecutive pair is discarded inside the hole and where the
   flow back does not return it (both grown by a margin, as flow at an object's border belongs to
   both sides) and interpolated smoothly from the hole's border (push-pull: masked averages down a
   pyramid, blended back up).
2. Propagation: one pass from the last frame of a window to the first pulls each hole pixel from the
   next frame along the completed flow, another from the first to the last pulls it from the
   previous frame; a pixel is taken only where the source is known (or was filled from a known pixel)
   and forward and backward flow agree. Each pass counts its hops; the two candidates are blended
   with weights `decay ** hops`.
3. What no frame of the window saw is taken from the previous output frame warped along the flow
   (so a fill never flickers), with a share (`unseen_refresh`) filled spatially again in every frame
   from the current border (so it does not drift and smear as it is carried); for the first frame, or
   what leaves the image, it is filled spatially only, with OpenCV's Telea or Navier-Stokes inpainting.
4. Temporal blend: every hole pixel is mixed with the previous output warped along the flow.
5. Background model (`background_frames`): when the camera is still, the hole pixels no frame of the
   window shows (or, with `background_scope: holes`, every hole pixel) take the per-pixel median of
   their unmasked observations in frames spread over the whole video, where these agree
   (`background_spread`).

Frames are processed in windows of `window` frames, each with `context` frames on either side for
propagation; only the window's and the context's frames are in memory at a time. The completed flows
of the pairs a window shares with the next are kept for it, not completed again.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from vidcli.io.flow import resize_flow

SPATIAL_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


@dataclass(frozen=True)
class FlowGuidedOptions:
    window: int = 20
    context: int = 20
    flow_margin: int = 24
    flow_check: float = 0.05
    consistency: float = 0.05
    decay: float = 0.9
    spatial: str = "telea"
    spatial_radius: int = 5
    temporal_blend: float = 0.0
    unseen_refresh: float = 0.1
    background_frames: int = 30
    background_scope: str = "unseen"
    background_spread: float = 5.0
    still_camera: float = 1.0

    @classmethod
    def of(cls, config) -> "FlowGuidedOptions":
        """The options named alike in a stage config (the inpaint stage's)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def smooth_fill(field: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`field` (H, W, C) float32 with its `hole` pixels interpolated smoothly from the known ones
    (push-pull); zeros where nothing is known."""
    if not hole.any():
        return field
    weight = (~hole).astype(np.float32)
    if not weight.any():
        return np.zeros_like(field)
    levels = [(field * weight[..., None], weight)]
    while not (levels[-1][1] > 0).all() and max(levels[-1][1].shape) > 1:
        values, weights = levels[-1]
        height, width = weights.shape
        size = (max(1, (width + 1) // 2), max(1, (height + 1) // 2))
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
        levels.append((values, cv2.resize(weights, size, interpolation=cv2.INTER_AREA)))
    values, weights = levels[-1]
    estimate = values / np.maximum(weights, 1e-12)[..., None]
    for values, weights in reversed(levels[:-1]):
        height, width = weights.shape
        coarse = cv2.resize(estimate, (width, height), interpolation=cv2.INTER_LINEAR).reshape(
            height, width, -1
        )
        known = np.clip(weights, 0.0, 1.0)[..., None]
        estimate = known * (values / np.maximum(weights, 1e-12)[..., None]) + (1 - known) * coarse
    return np.where(hole[..., None], estimate, field).astype(np.float32)


def complete_flow(flow: np.ndarray, hole: np.ndarray, margin: int) -> np.ndarray:
    """Flow with its values inside `hole` (of the flow's size), grown by `margin` pixels, replaced by a
    smooth interpolation of the border's."""
    if margin:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        hole = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool)
    return smooth_fill(flow, hole)


def warp(
    image: np.ndarray, flow: np.ndarray, interpolation=cv2.INTER_LINEAR
) -> tuple[np.ndarray, np.ndarray]:
    """(`image` sampled at x + flow(x), whether that point lies inside the image)."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    sampled = cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    return sampled, inside


def consistent(flow: np.ndarray, back_at_target: np.ndarray, tolerance: float) -> np.ndarray:
    """Forward-backward check (Sundaram et al.): |f + b|^2 <= tolerance (|f|^2 + |b|^2) + 0.5."""
    error = np.square(flow + back_at_target).sum(-1)
    return error <= tolerance * (np.square(flow).sum(-1) + np.square(back_at_target).sum(-1)) + 0.5


def inconsistent(flow: np.ndarray, back: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels whose estimated `flow` the flow `back` from where it lands does not return to them within
    `tolerance` (`consistent`); none when `tolerance` is 0. Occlusions and an estimator's failures
    (texture-less walls, a hole's black edge dragging the flow) would otherwise pull the completion."""
    if not tolerance:
        return np.zeros(flow.shape[:2], bool)
    return ~consistent(flow, warp(back, flow)[0], tolerance)


def completed_pair(video, i: int, hole: np.ndarray, next_hole: np.ndarray, options: FlowGuidedOptions):
    """(flow i -> i + 1, flow i + 1 -> i) at the flow's size, each completed inside its frame's hole
    (`hole`, `next_hole`, at the frames' size) and where the other does not return it (`flow_check`)."""
    flow_size = video.flow_size
    forward, backward = video.flow(i, i + 1), video.flow(i + 1, i)
    small_hole, small_next = (
        cv2.resize(h.astype(np.float32), flow_size, interpolation=cv2.INTER_AREA) > 0
        for h in (hole, next_hole)
    )
    unknown_forward = small_hole | inconsistent(forward, backward, options.flow_check)
    unknown_backward = small_next | inconsistent(backward, forward, options.flow_check)
    return (
        complete_flow(forward, unknown_forward, options.flow_margin),
        complete_flow(backward, unknown_backward, options.flow_margin),
    )


class _Window:
    """Frames [lo, hi) with their holes and completed flows, propagated in both directions."""

    def __init__(self, video, lo: int, hi: int, options: FlowGuidedOptions, completed: dict):
        """`completed`: (forward, backward) completed flows by pair (i -> i + 1), shared with the windows
        before and after, which overlap this one; the pairs missing from it are completed and added."""
        self.lo, self.options = lo, options
        self.frames = [video.frame(i) for i in range(lo, hi)]
        self.holes = [video.hole(i) for i in range(lo, hi)]
        width, height = video.size
        self.size = (width, height)
        for i in range(lo, hi - 1):
            if i not in completed:
                completed[i] = completed_pair(video, i, self.holes[i - lo], self.holes[i + 1 - lo], options)
        # completed flows at the flow's size: forward[k] is k -> k+1, backward[k] is k+1 -> k (window indices)
        self.forward = [completed[i][0] for i in range(lo, hi - 1)]
        self.backward = [completed[i][1] for i in range(lo, hi - 1)]
        self.from_future = self._propagate(range(hi - lo - 2, -1, -1), +1)
        self.from_past = self._propagate(range(1, hi - lo), -1)

    def flow(self, k: int, step: int) -> np.ndarray:
        """Completed flow from window frame k to k + step (step = +-1), at the frames' size."""
        small = self.forward[k] if step > 0 else self.backward[k - 1]
        return resize_flow(small, self.size)

    def _propagate(self, order, step: int):
        """(values, known, hops) per window frame, pulling hole pixels from frame k + step."""
        last = order[0] + step
        values = {last: self.frames[last]}
        known = {last: ~self.holes[last]}
        hops = {last: np.zeros(self.holes[last].shape, np.float32)}
        for k in order:
            source = k + step
            flow = self.flow(k, step)
            back = self.flow(source, -step)
            sampled, inside = warp(values[source], flow)
            source_known, _ = warp(known[source].astype(np.float32), flow)
            back_at_target, _ = warp(back, flow)
            take = (
                self.holes[k]
                & inside
                & (source_known > 0.999)
                & consistent(flow, back_at_target, self.options.consistency)
            )
            values[k] = np.where(take[..., None], sampled, self.frames[k])
            known[k] = ~self.holes[k] | take
            source_hops, _ = warp(hops[source], flow, cv2.INTER_NEAREST)
            hops[k] = np.where(take, source_hops + 1, 0).astype(np.float32)
        return values, known, hops

    def fill(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame k with propagated pixels blended into its hole, the hole pixels no frame gave)."""
        hole = self.holes[k]
        total = np.zeros(hole.shape, np.float32)
        blended = np.zeros((*hole.shape, 3), np.float32)
        for values, known, hops in (self.from_future, self.from_past):
            if k in values:
                weight = np.where(hole & known[k], self.options.decay ** hops[k], 0).astype(np.float32)
                blended += weight[..., None] * values[k]
                total += weight
        filled = self.frames[k].astype(np.float32)
        seen = total > 0
        filled[seen] = blended[seen] / total[seen, None]
        return filled, hole & ~seen


def camera_drift(video) -> float:
    """How far, in pixels of the frames, the camera wanders from where it starts: the largest distance
    of the sum of each pair's median flow outside the holes. A median ignores people moving; a sum
    lets a still camera's flow noise cancel out where a slow pan adds up."""
    position, farthest = np.zeros(2), 0.0
    for i in range(len(video) - 1):
        flow = video.flow(i, i + 1)
        hole = cv2.resize(
            video.hole(i).astype(np.uint8), (flow.shape[1], flow.shape[0]), interpolation=cv2.INTER_NEAREST
        )
        outside = flow[hole == 0]
        if len(outside):
            position += np.median(outside, axis=0) * (video.size[0] / flow.shape[1])
            farthest = max(farthest, float(np.hypot(*position)))
    return farthest


def background_model(
    video, count: int, still: float, spread: float = 255.0
) -> tuple[np.ndarray, np.ndarray] | None:
    """(per-pixel median of the unmasked observations in `count` frames spread over the whole video,
    whether it is trusted) when the camera drifts at most `still` pixels, else None. A still camera
    sees the wall behind a hole in most frames, and their median is the wall without the people who
    walk past; a person who stays in one place for more than half the frames is in it too. A pixel is
    trusted where some observation is unmasked and their median absolute deviation from the median
    (the largest of the three channels') is at most `spread` levels: where people keep moving
    through a spot, the median is a guess. Memory: `count` frames, whatever the video's length."""
    if camera_drift(video) > still:
        return None
    indices = np.unique(np.linspace(0, len(video) - 1, min(count, len(video))).round().astype(int)).tolist()
    stack = np.stack([video.frame(i) for i in indices])  # uint8: a quarter of float32's memory
    holes = np.stack([video.hole(i) for i in indices])
    median = np.zeros(stack.shape[1:], np.float32)
    deviation = np.zeros(stack.shape[1:3], np.float32)
    for row in range(0, stack.shape[1], 8):  # 8 rows at a time in float32, NaN in the holes
        rows = np.where(holes[:, row : row + 8, :, None], np.float32(np.nan), stack[:, row : row + 8])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: never unmasked
            middle = np.nanmedian(rows, axis=0)
            deviation[row : row + 8] = np.nan_to_num(np.nanmedian(np.abs(rows - middle), axis=0)).max(-1)
        median[row : row + 8] = np.nan_to_num(middle)
    return median, ~holes.all(axis=0) & (deviation <= spread)


class FlowGuidedFill:
    """Streams a `HoleVideo`'s frames with their holes filled, window by window."""

    def __init__(self, options: FlowGuidedOptions):
        self.options = options
        self.counts = {"propagated": 0, "spatial": 0, "from_previous": 0, "background": 0}

    def run(self, video, write: Callable[[int, np.ndarray], None]) -> None:
        options, count = self.options, len(video)
        previous = None  # the last output frame, as float32
        self.completed = {}  # completed flows of the pairs the current window shares with the next
        self.background = (  # (median frame, known) of a still camera's video, else None
            background_model(video, options.background_frames, options.still_camera,
                             options.background_spread)
            if options.background_frames
            else None
        )
        for start in range(0, count, options.window):
            stop = min(count, start + options.window)
            if not any(video.hole_area(i) for i in range(start, stop)):
                for i in range(start, stop):
                    previous = video.frame(i)
                    write(i, previous)
                previous = previous.astype(np.float32)
                continue
            previous = self._fill_window(video, start, stop, previous, write)
        self.completed = {}

    def _fill_window(self, video, start: int, stop: int, previous, write) -> np.ndarray:
        """Fills frames [start, stop) and returns the last; its window is freed on return, before the
        next one is read (two windows at once would double the peak memory)."""
        lo, hi = max(0, start - self.options.context), min(len(video), stop + self.options.context)
        self.completed = {i: pair for i, pair in self.completed.items() if i >= lo}
        window = _Window(video, lo, hi, self.options, self.completed)
        for i in range(start, stop):
            filled = self._frame(window, i - lo, previous if i > lo else None)
            write(i, np.clip(np.rint(filled), 0, 255).astype(np.uint8))
            previous = filled
        return previous

    def _frame(self, window: _Window, k: int, previous: np.ndarray | None) -> np.ndarray:
        filled, unseen = window.fill(k)
        hole = window.holes[k]
        modelled = np.zeros_like(hole)
        if self.background is not None:
            model, trusted = self.background
            modelled = (unseen if self.options.background_scope == "unseen" else hole) & trusted
            filled[modelled] = model[modelled]
            unseen &= ~modelled
        self.counts["background"] += int(modelled.sum())
        self.counts["propagated"] += int((hole & ~unseen & ~modelled).sum())
        if previous is not None and hole.any():
            warped, inside = warp(previous, window.flow(k, -1))
            reuse = unseen & inside
            if reuse.any():
                refresh = self.options.unseen_refresh
                spatial = self._spatial(filled, reuse) if refresh else filled
                filled[reuse] = (1 - refresh) * warped[reuse] + refresh * spatial[reuse]
            self.counts["from_previous"] += int(reuse.sum())
            unseen &= ~inside
            blend = hole & inside
            beta = self.options.temporal_blend
            filled[blend] = (1 - beta) * filled[blend] + beta * warped[blend]
        if unseen.any():
            self.counts["spatial"] += int(unseen.sum())
            filled[unseen] = self._spatial(filled, unseen)[unseen]
        return filled

    def _spatial(self, filled: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """`filled` with `hole` inpainted by OpenCV from its border."""
        return cv2.inpaint(
            np.clip(np.rint(filled), 0, 255).astype(np.uint8),
            hole.astype(np.uint8),
            self.options.spatial_radius,
            SPATIAL_METHODS[self.options.spatial],
        )
