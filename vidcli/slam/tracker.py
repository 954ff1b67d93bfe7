"""Monocular camera tracking in the manner of DROID-SLAM, with optical flow in place of its network.

The front end (`build_graph`) reads the frames once: a frame whose flow from the last keyframe
exceeds a threshold becomes a keyframe (at most one every `min_keyframe_gap` frames), keyframes
within `radius` of each other are linked both ways by dense correspondences (the frame graph), and
every other frame keeps its correspondences from the keyframe before it. A frame whose background
(people masked) has too few textured cells shows nothing the camera's motion could be measured by:
it gets no flow and its pose is interpolated; a video without such frames has an unobservable
camera, reported static. The back end (`reconstruct`) then adds the keyframes in order, as
DROID-SLAM's tracker does: two-view geometry for the first ones (candidate poses from the essential
matrix and the dominant plane's homography; the one a third keyframe fits best is kept),
motion-only refinement and triangulation for each later one followed by a local bundle adjustment
of the newest keyframes, and a global bundle adjustment at the end (in overlapping windows of
keyframes, so that a long video costs time and memory in proportion to its length). Since the
correspondences do not depend on the intrinsics, `calibrate_focal` can rebuild the first keyframes
for a sweep of focal lengths and keep the one of lowest reprojection cost. A video whose keyframes
show no parallax once their rotation is taken out is reconstructed with rotations only (a panning
camera on a tripod): its depths cannot be observed, and translation plus depth would otherwise
absorb part of the rotation. Poses are camera <- world (T_cw), the first frame is the world, and
translation is up to scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from vidcli.geometry import se3
from vidcli.geometry.ba import Edges, bundle_adjust, refine_poses, reprojection_cost
from vidcli.geometry.projection import pixel_rays, project
from vidcli.geometry.twoview import essential_pose, homography_poses, rotation_between, triangulate
from vidcli.slam.correspondence import (CELL, correspondences, grid_intrinsics, grid_pixels, texture_weight,
                                        textured_share)

RELIABLE_WEIGHT = 0.25  # cells at least this confident count for motion statistics and initialisation
# A cell is textured when its mean squared gradient in its weakest direction reaches this share of
# TEXTURE_SCALE: 2.5, five times what sensor noise of 2 levels gives; a plain studio backdrop (noise
# 2-4, H.264) had 0-0.3% of such cells, the textured synthetic scene 47%, a pale room 0.3-3.4%.
TEXTURED_CELL = 0.1
MIN_RELIABLE_SHARE = 0.02  # below this share of reliable cells, the flow is treated as lost
# Image motion is this percentile of the cells' flow (DROID-SLAM takes the mean): a high percentile
# also sees forward motion, whose flow is small around the focus of expansion, and ignores a few
# wrong cells.
MOTION_PERCENTILE = 75
# Sweep of focal lengths, relative to the default, in steps of 4.4%: each step starts from its
# neighbour's solution, and on a forward-moving camera a 19% step fell into a worse local minimum,
# which stopped the sweep at the default focal, 15% above the true one.
FOCAL_FACTORS = np.geomspace(0.5, 2.0, 33)
CALIBRATION_KEYFRAMES = 16  # keyframes (the first ones) the focal sweep reconstructs
CALIBRATION_ITERATIONS = 5  # per focal of the sweep, each starting from its neighbour's solution
FRAME_CHUNK = 64  # frames whose poses are refined together (bounds the memory that a long video needs)
# Keyframes that one global bundle adjustment moves at once; a longer video is adjusted in windows
# overlapping by half (its dense normal equations grow with the square of the keyframes).
GLOBAL_WINDOW = 48
STILL_STRIDE = 5  # while the camera keeps still, frames compared with the first keyframe (1 in this many)


@dataclass
class SlamSettings:
    # motion (working pixels, see _motion) from the last keyframe that makes a keyframe
    keyframe_flow: float = 12.0
    static_flow: float = 1.5  # a video whose motion from the first frame stays below this is static
    parallax: float = 1.0  # translation-induced motion (working pixels) needed to trust a translation
    radius: int = 2  # keyframes this close (in keyframe order) are linked both ways
    window: int = 6  # keyframes the local bundle adjustment moves
    local_iterations: int = 3
    global_iterations: int = 12
    huber: float = 0.125  # Huber threshold, grid pixels (1 working pixel)
    min_keyframe_gap: int = 1  # frames from one keyframe to the next, at least
    # share of a frame's grid cells whose background (people masked) must be textured for the
    # camera's motion to be measured from it
    min_textured_share: float = 0.05


@dataclass
class FrameGraph:
    """What the front end found: keyframes, their correspondences, and those of the other frames."""

    width: int  # working image size
    height: int
    keyframes: list[int] = field(default_factory=list)  # frame indices
    # (source, target) -> (coords, weight): where each cell of the source keyframe lands in the target
    edges: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # frame -> (keyframe, offsets, weight), see `track`: float16, as a long video has many such frames
    tracked: dict[int, tuple[int, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # image motion from the reference keyframe
    motion: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # share of each frame's grid cells whose background is textured (see `textured_share`)
    textured: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def pixels(self) -> np.ndarray:
        return grid_pixels(self.width, self.height)

    @property
    def grid(self) -> tuple[int, int]:
        return self.height // CELL, self.width // CELL

    def link(self, source: int, target: int, coords: np.ndarray, weight: np.ndarray) -> None:
        """Keep the edge from keyframe `source` to keyframe `target` (indices in `keyframes`)."""
        self.edges[source, target] = (coords.astype(np.float32), weight.astype(np.float32))

    def edge_arrays(self, count: int, first_free: int = 0) -> Edges:
        """The edges among the first `count` keyframes that touch a keyframe from `first_free` on
        (none: empty arrays)."""
        pairs = [pair for pair in self.edges if first_free <= max(pair) < count]
        cells = len(self.pixels)
        return Edges(np.array([s for s, _ in pairs], int), np.array([t for _, t in pairs], int),
                     np.stack([self.edges[p][0] for p in pairs]) if pairs else np.zeros((0, cells, 2)),
                     np.stack([self.edges[p][1] for p in pairs]) if pairs else np.zeros((0, cells)))

    def edge(self, source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
        return self.edges[source, target]

    def track(self, frame: int, keyframe: int, coords: np.ndarray, weight: np.ndarray) -> None:
        """Keep where the cells of keyframe `keyframe` (its index in `keyframes`) land in `frame`: their
        offsets in grid pixels and weights, as float16 (errors below 1/100 working pixel)."""
        self.tracked[frame] = (keyframe, (coords - self.pixels).astype(np.float16), weight.astype(np.float16))

    def hold(self, frame: int, keyframe: int) -> None:
        """Track `frame` without correspondences: its pose is interpolated between its keyframe
        (its index in `keyframes`) and the next."""
        self.track(frame, keyframe, self.pixels, np.zeros(len(self.pixels)))

    def tracked_correspondences(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keyframes (M,), coords (M, P, 2), weights (M, P)) of tracked frames."""
        keyframes = np.array([self.tracked[f][0] for f in frames])
        coords = self.pixels + np.stack([self.tracked[f][1] for f in frames]).astype(np.float32)
        return keyframes, coords, np.stack([self.tracked[f][2] for f in frames]).astype(np.float32)


@dataclass
class Reconstruction:
    poses: np.ndarray  # (N, 4, 4) keyframe poses, camera <- world
    inv_depth: np.ndarray  # (N, P)
    information: np.ndarray  # (N, P) curvature of the cost in each inverse depth
    cost: float


@dataclass
class SlamResult:
    poses: np.ndarray  # (F, 4, 4) camera <- world, world = first frame's camera
    K: np.ndarray  # (3, 3) intrinsics of the working images
    static: bool
    keyframes: np.ndarray  # (N,) frame indices
    inv_depth: np.ndarray  # (N, rows * columns) at the grid
    information: np.ndarray  # (N, rows * columns)
    grid: tuple[int, int]  # (rows, columns)
    rotation_only: bool = False
    focal_costs: list[tuple[float, float]] = field(default_factory=list)  # (focal, cost) of the sweep
    observable: bool = True  # False: no frame showed enough texture to measure the camera's motion
    textured_frames: int = 0  # frames whose background had enough textured cells

    @property
    def motion(self) -> str:
        """One word for what the camera did: unobservable, static, rotation (on a tripod) or moving."""
        if not self.observable:
            return "unobservable"
        return "static" if self.static else "rotation" if self.rotation_only else "moving"


def static_result(count: int, K: np.ndarray, grid: tuple[int, int], observable: bool = True,
                  textured_frames: int = 0) -> SlamResult:
    """A camera that does not move (or whose motion cannot be observed): identity poses and one
    keyframe without depth."""
    cells = grid[0] * grid[1]
    return SlamResult(np.repeat(np.eye(4)[None], count, axis=0), K, True, np.array([0]), np.zeros((1, cells)),
                      np.zeros((1, cells)), grid, observable=observable, textured_frames=textured_frames)


def track(read: Callable[[int], tuple[np.ndarray, np.ndarray | None]], count: int, estimator, K: np.ndarray,
          settings: SlamSettings, calibrate: bool, advance: Callable[[], None] = lambda: None) -> SlamResult:
    """Camera poses of `count` frames; `read(i)` gives frame i's working RGB image and people mask
    (or None), `K` the working images' intrinsics (a starting point when `calibrate`)."""
    graph = build_graph(read, count, estimator, settings, advance)
    textured_frames = int((graph.textured >= settings.min_textured_share).sum())
    if len(graph.keyframes) < 2:
        return static_result(count, K, graph.grid, observable=len(graph.keyframes) == 1,
                             textured_frames=textured_frames)
    rotation_only = parallax(graph, K) < settings.parallax
    focal_costs, start = [], None
    if calibrate:
        K, start, focal_costs = calibrate_focal(graph, K, settings, rotation_only)
    scene = reconstruct(graph, K, settings, len(graph.keyframes), rotation_only, start)
    poses = frame_poses(graph, scene, K, settings, count, rotation_only)
    return SlamResult(poses, K, False, np.array(graph.keyframes), scene.inv_depth, scene.information,
                      graph.grid, rotation_only, focal_costs, textured_frames=textured_frames)


def parallax(graph: FrameGraph, K: np.ndarray) -> float:
    """Median over consecutive keyframes of the median flow (working pixels) that the best pure
    rotation between them leaves unexplained."""
    K_grid = grid_intrinsics(K)
    rays = pixel_rays(graph.pixels, K_grid)
    residuals = []
    for (source, target), (coords, weight) in graph.edges.items():
        good = weight > RELIABLE_WEIGHT
        if target != source + 1 or good.sum() < 8:
            continue
        R = rotation_between(rays[good], pixel_rays(coords[good], K_grid), weight[good])
        residuals.append(np.median(np.linalg.norm(project(rays[good] @ R.T, K_grid) - coords[good], axis=-1)))
    return float(np.median(residuals)) * CELL if residuals else 0.0


# ----- front end -----


@dataclass
class _Keyframe:
    prepared: object
    mask: np.ndarray | None
    texture: np.ndarray


def build_graph(read, count: int, estimator, settings: SlamSettings, advance=lambda: None) -> FrameGraph:
    """Keyframes and correspondences of a video (see the module docstring). The first keyframe is
    the first frame with a textured background (the frames before it are held at its pose); a video
    without one has no keyframe. While the camera keeps still, only every STILL_STRIDE-th frame is
    compared with the first keyframe; the frames between are read only if the camera turns out to
    move. A video whose motion never reaches the keyframe threshold but exceeds the static one gets
    its most moved frame as second keyframe; a static one keeps a single keyframe. Only the last
    radius + 1 keyframes' images (and the first's) are kept while reading."""
    rgb, _ = read(0)
    graph = FrameGraph(rgb.shape[1], rgb.shape[0], motion=np.zeros(count), textured=np.zeros(count))
    recent: list[_Keyframe] = []  # the last radius + 1 keyframes
    before_first: list[int] = []  # frames before the first keyframe
    skipped: list[int] = []  # frames left unread while the camera kept still
    still = True  # no frame has moved static_flow from the first keyframe (which is then the only one)
    frame = 0
    while frame < count:
        probe = min(frame + STILL_STRIDE, count) - 1
        if still and recent:
            rgb, mask = read(probe)
            share = textured_share(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), mask, TEXTURED_CELL)
            if share >= settings.min_textured_share:
                probed = _frame(estimator, rgb, mask)
                *_, coords, weight, motion = _compare(graph, recent[0], estimator, probed)
                if motion < settings.static_flow:
                    graph.textured[frame:probe + 1], graph.motion[probe] = share, motion
                    for between in range(frame, probe):
                        graph.hold(between, 0)
                        advance()
                    skipped += range(frame, probe)
                    graph.track(probe, 0, coords, weight)
                    advance()
                    frame = probe + 1
                    continue
            still = False
        rgb, mask = read(frame)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        graph.textured[frame] = textured_share(grey, mask, TEXTURED_CELL)
        if graph.textured[frame] < settings.min_textured_share:
            if recent:
                graph.hold(frame, len(graph.keyframes) - 1)
            else:
                before_first.append(frame)
        elif not recent:
            recent.append(_add_keyframe(graph, frame, _frame(estimator, rgb, mask)))
            first = recent[0]
            for earlier in before_first:
                graph.hold(earlier, 0)
        else:
            current = _frame(estimator, rgb, mask)
            matches, coords, weight, motion = _compare(graph, recent[-1], estimator, current)
            graph.motion[frame] = motion
            still &= graph.motion[frame] < settings.static_flow
            if (graph.motion[frame] <= settings.keyframe_flow
                    or frame - graph.keyframes[-1] < settings.min_keyframe_gap):
                graph.track(frame, len(graph.keyframes) - 1, coords, weight)
            else:
                recent.append(_add_keyframe(graph, frame, current))
                _link(graph, recent, estimator, settings.radius, matches)
                del recent[:-settings.radius - 1]
        advance()
        frame += 1
    if len(graph.keyframes) == 1 and graph.motion.max() >= settings.static_flow:
        frame = int(np.argmax(graph.motion))
        del graph.tracked[frame]
        recent.append(_add_keyframe(graph, frame, _frame(estimator, *read(frame))))
        _link(graph, recent, estimator, 1)
    if len(graph.keyframes) > 1:  # the camera moved after all: the frames skipped while still, in full
        for frame in skipped:
            rgb, mask = read(frame)
            graph.textured[frame] = textured_share(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), mask, TEXTURED_CELL)
            if graph.textured[frame] >= settings.min_textured_share:
                current = _frame(estimator, rgb, mask)
                *_, coords, weight, graph.motion[frame] = _compare(graph, first, estimator, current)
                graph.track(frame, 0, coords, weight)
    return graph


def _compare(graph: FrameGraph, key: _Keyframe, estimator, current: _Keyframe):
    """A frame against a keyframe: (the correspondences both ways, where the keyframe's cells land in
    the frame and their weights, the image motion)."""
    matches = _match(estimator, key, current)
    coords, weight = matches[0]
    return matches, coords, weight, _motion(graph.pixels, coords, weight)


def _add_keyframe(graph: FrameGraph, frame: int, current: _Keyframe) -> _Keyframe:
    graph.keyframes.append(frame)
    return current


def _frame(estimator, rgb, mask) -> _Keyframe:
    return _Keyframe(estimator.prepare(rgb), mask, texture_weight(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))


def _match(estimator, old: _Keyframe, new: _Keyframe):
    """Correspondences both ways, ((coords, weight) of old -> new, of new -> old), from optical flow
    forward and backward (`correspondences`)."""
    forward, backward = estimator.flow(old.prepared, new.prepared), estimator.flow(new.prepared, old.prepared)
    return (correspondences(forward, backward, old.mask, new.mask, old.texture),
            correspondences(backward, forward, new.mask, old.mask, new.texture))


def _motion(pixels: np.ndarray, coords: np.ndarray, weight: np.ndarray) -> float:
    """How far the image moved (working pixels): the MOTION_PERCENTILE of the reliable cells' flow,
    infinite when too few are reliable."""
    reliable = weight > RELIABLE_WEIGHT
    if reliable.mean() < MIN_RELIABLE_SHARE:
        return np.inf
    flow = np.linalg.norm(coords[reliable] - pixels[reliable], axis=-1)
    return float(np.percentile(flow, MOTION_PERCENTILE) * CELL)


def _link(graph: FrameGraph, recent: list[_Keyframe], estimator, radius: int, newest_matches=None) -> None:
    """Edges both ways between the newest keyframe and up to `radius` keyframes before it;
    `newest_matches` are those with the keyframe just before it, when already found."""
    slot = len(graph.keyframes) - 1
    for back in range(1, min(radius, len(recent) - 1) + 1):
        matches = newest_matches if back == 1 and newest_matches is not None else \
            _match(estimator, recent[-1 - back], recent[-1])
        graph.link(slot - back, slot, *matches[0])
        graph.link(slot, slot - back, *matches[1])


# ----- back end -----


class _Builder:
    """Adds keyframes one by one to a reconstruction with fixed intrinsics."""

    def __init__(self, graph: FrameGraph, K: np.ndarray, settings: SlamSettings, rotation_only: bool):
        self.graph, self.settings, self.rotation_only = graph, settings, rotation_only
        self.focal = K[0, 0]
        self.K = grid_intrinsics(K)
        self.rays = pixel_rays(graph.pixels, self.K)
        self.poses: list[np.ndarray] = []
        self.depths: list[np.ndarray] = []
        self.information: dict[int, np.ndarray] = {}  # keyframe -> depth curvature when last moved

    def rotation_fit(self, source: int, target: int) -> tuple[np.ndarray, float]:
        """The rotation that best explains the edge's flow, and the flow it leaves unexplained
        (median, working pixels): the parallax between the two keyframes."""
        coords, weight = self.graph.edge(source, target)
        good = weight > RELIABLE_WEIGHT
        if good.sum() < 8:  # the flow was lost: no turn, no parallax to go on
            return np.eye(3), 0.0
        R = rotation_between(self.rays[good], pixel_rays(coords[good], self.K), weight[good])
        unexplained = np.linalg.norm(project(self.rays[good] @ R.T, self.K) - coords[good], axis=-1)
        return R, float(np.median(unexplained)) * CELL

    def place(self, slot: int, reference: int, turn: np.ndarray) -> np.ndarray:
        """Pose of keyframe `slot` by motion-only refinement against keyframe `reference`, starting
        from the rotation `turn` (rotation and translation look alike in a narrow view; starting from
        the rotation that explains the flow avoids mistaking one for the other)."""
        coords, weight = self.graph.edge(reference, slot)
        ref = self.poses[reference]
        start = se3.make_pose(turn, np.zeros(3)) @ ref
        return refine_poses(start[None], ref[None], self.depths[reference][None], self.rays, self.K,
                            coords[None], weight[None], huber=self.settings.huber,
                            rotation_only=self.rotation_only)[0]

    def initialise(self, count: int) -> int:
        """The first keyframes, up to the first one linked to keyframe 0 with enough parallax (the
        first well-separated pair), and the keyframe after them. Each candidate relative pose of the
        pair (`pair_poses`) starts a reconstruction: keyframe 0's depths by triangulation scaled to a
        median inverse depth of 1, the keyframes between by motion-only refinement, a bundle
        adjustment, then the next keyframe added (a third view tells a dominant plane's twin motions
        apart); the one of lowest reprojection cost is kept. Without such a pair (or for rotation-only
        videos) keyframe 1 is placed by its rotation. Returns how many keyframes are placed."""
        linked = range(1, min(self.settings.radius, count - 1) + 1)
        fits = {j: self.rotation_fit(0, j) for j in linked}
        separated = (j for j in linked if fits[j][1] > self.settings.parallax)
        wide = None if self.rotation_only else next(separated, None)
        last = wide or 1
        best = None
        for pose in (self.pair_poses(wide) if wide else []) or [None]:
            self.poses = [np.eye(4)] + [se3.make_pose(fits[j][0], np.zeros(3)) for j in range(1, last + 1)]
            self.depths = [np.ones(len(self.rays)) for _ in range(last + 1)]
            if pose is not None:
                self.start_from_pair(wide, *pose, fits)
            self.adjust(last + 1, np.arange(last + 1) == 0, self.settings.global_iterations)
            placed = last + 1
            if placed < count:
                self.add(placed)
                placed += 1
            cost = reprojection_cost(np.stack(self.poses), np.stack(self.depths), self.rays, self.K,
                                     self.graph.edge_arrays(placed), self.settings.huber)
            if best is None or cost < best[0]:
                best = (cost, self.poses, self.depths)
        _, self.poses, self.depths = best
        return len(self.poses)

    def pair_poses(self, wide: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Candidate poses (R, unit t) of keyframe `wide` relative to keyframe 0: the essential
        matrix's, and those of the dominant plane's homography (see `homography_poses`)."""
        coords, weight = self.graph.edge(0, wide)
        good = weight > RELIABLE_WEIGHT
        rays_a, rays_b = self.rays[good], pixel_rays(coords[good], self.K)
        R, t, inliers = essential_pose(rays_a, rays_b, 1.0 / self.focal)
        return ([(R, t)] if inliers >= 8 else []) + homography_poses(rays_a, rays_b, 1.0 / self.focal)

    def start_from_pair(self, wide: int, R: np.ndarray, t: np.ndarray, fits: dict) -> None:
        """Keyframe `wide` at (R, t) from keyframe 0, the translation scaled so that keyframe 0's
        triangulated inverse depths have a median of 1 (the typical inverse depth that cells without
        parallax then take), the keyframes between placed from their rotations `fits`, and their depths."""
        coords, _ = self.graph.edge(0, wide)
        rho = triangulate(se3.make_pose(R, t), self.rays, pixel_rays(coords, self.K), 1.0,
                          self.settings.parallax / self.focal)
        self.poses[wide] = se3.make_pose(R, t * (np.nanmedian(rho) if np.isfinite(rho).any() else 1.0))
        self.depths[0] = self.triangulated(0, wide)
        for slot in range(1, wide):
            self.poses[slot] = self.place(slot, 0, fits[slot][0])
        for slot in range(1, wide + 1):
            self.depths[slot] = self.triangulated(slot, 0)

    def add(self, slot: int) -> None:
        """Keyframe `slot`: pose by motion-only refinement against the previous keyframe, depths by
        triangulation, then a local bundle adjustment of the newest `window` keyframes."""
        self.poses.append(self.place(slot, slot - 1, self.rotation_fit(slot - 1, slot)[0]))
        self.depths.append(self.triangulated(slot, slot - 1))
        first_free = max(1, slot - self.settings.window + 1)
        fixed = np.arange(slot + 1) < first_free
        self.adjust(slot + 1, fixed, self.settings.local_iterations, first_free)

    def triangulated(self, slot: int, other: int) -> np.ndarray:
        """Inverse depths of keyframe `slot` from its edge to `other`, where the baseline shows
        parallax at the scene's typical depth; the typical inverse depth elsewhere."""
        coords, _ = self.graph.edge(slot, other)
        typical = float(np.median(self.depths[min(slot, other)]))
        T = self.poses[other] @ se3.inverse(self.poses[slot])
        rho = triangulate(T, self.rays, pixel_rays(coords, self.K), typical,
                          self.settings.parallax / self.focal)
        return np.where(np.isfinite(rho), rho, typical)

    def adjust(self, count: int, fixed: np.ndarray, iterations: int, first_free: int = 0) -> float:
        """Bundle adjustment of the first `count` keyframes, over the edges that touch a keyframe
        from `first_free` on; it only involves the keyframes of those edges (so that its cost does not
        grow with the video). Returns its cost (0 without edges: keyframes that nothing links stay)."""
        edges = self.graph.edge_arrays(count, first_free)
        if not len(edges.source):
            return 0.0
        involved = np.unique(np.concatenate([edges.source, edges.target]))
        local = Edges(np.searchsorted(involved, edges.source), np.searchsorted(involved, edges.target),
                      edges.coords, edges.weight)
        solution = bundle_adjust(np.stack([self.poses[k] for k in involved]),
                                 np.stack([self.depths[k] for k in involved]), self.rays, self.K, local,
                                 fixed[involved], iterations, self.settings.huber, self.rotation_only)
        for slot, pose, depth, information in zip(involved, solution.poses, solution.inv_depth,
                                                  solution.information):
            self.poses[slot], self.depths[slot] = pose, depth
            if slot >= first_free:  # all of its edges took part
                self.information[slot] = information
        return solution.cost


def reconstruct(graph: FrameGraph, K: np.ndarray, settings: SlamSettings, count: int,
                rotation_only: bool = False, start: Reconstruction | None = None) -> Reconstruction:
    """Poses and depths of the first `count` (>= 2) keyframes with intrinsics `K` (working images),
    continuing from `start` (a reconstruction of the first keyframes) when given."""
    builder = _Builder(graph, K, settings, rotation_only)
    if start is None:
        placed = builder.initialise(count)
    else:
        builder.poses, builder.depths, placed = list(start.poses), list(start.inv_depth), len(start.poses)
    for slot in range(placed, count):
        builder.add(slot)
    return adjust_globally(graph, K, settings, np.stack(builder.poses), np.stack(builder.depths),
                           rotation_only)


def adjust_globally(graph: FrameGraph, K: np.ndarray, settings: SlamSettings, poses: np.ndarray,
                    inv_depth: np.ndarray, rotation_only: bool = False,
                    iterations: int = 0) -> Reconstruction:
    """Bundle adjustment of the first len(poses) keyframes over all their edges, the first one fixed,
    for `iterations` (0: the settings' global iterations): at once up to GLOBAL_WINDOW keyframes,
    beyond that window by window, each window moving its keyframes against the fixed ones before it."""
    count = len(poses)
    builder = _Builder(graph, K, settings, rotation_only)
    builder.poses, builder.depths = list(poses), list(inv_depth)
    first = 0
    while True:
        last = min(first + GLOBAL_WINDOW, count)
        cost = builder.adjust(last, np.arange(last) < max(first, 1), iterations or settings.global_iterations,
                              first)
        if last == count:
            break
        first += GLOBAL_WINDOW // 2
    if first:  # windowed: the cost over every edge
        cost = reprojection_cost(np.stack(builder.poses), np.stack(builder.depths), builder.rays, builder.K,
                                 graph.edge_arrays(count), settings.huber)
    information = np.stack([builder.information.get(k, np.zeros(len(builder.rays))) for k in range(count)])
    return Reconstruction(np.stack(builder.poses), np.stack(builder.depths), information, cost)


def calibrate_focal(graph: FrameGraph, K: np.ndarray, settings: SlamSettings, rotation_only: bool = False):
    """K with the focal length (fx = fy) of lowest reprojection cost on the first keyframes.

    The keyframes are reconstructed at K's focal, then adjusted for focals of a sweep outwards from it
    (FOCAL_FACTORS) in both directions, each step starting from the previous step's solution (so the
    cost follows one solution instead of jumping between local minima). A direction is followed
    while the cost falls and left at the first step that raises it, so only the steps around the
    minimum are tried; a parabola (in log focal) through the best three refines it. Returns (K, the
    reconstruction of the first keyframes with it, [(focal, cost), ...]).
    """
    count = min(len(graph.keyframes), CALIBRATION_KEYFRAMES)

    def with_focal(focal: float) -> np.ndarray:
        scaled = K.copy()
        scaled[0, 0] = scaled[1, 1] = focal
        return scaled

    logs = np.log(K[0, 0] * FOCAL_FACTORS)
    centre = int(np.argmin(np.abs(FOCAL_FACTORS - 1.0)))
    scenes = {centre: reconstruct(graph, K, settings, count, rotation_only)}
    for direction in (1, -1):
        index = centre + direction
        while 0 <= index < len(logs):
            start = scenes[index - direction]
            scenes[index] = adjust_globally(graph, with_focal(np.exp(logs[index])), settings, start.poses,
                                            start.inv_depth, rotation_only, CALIBRATION_ITERATIONS)
            if scenes[index].cost >= start.cost:
                break
            index += direction
    tried = [(float(np.exp(logs[i])), float(scenes[i].cost)) for i in sorted(scenes)]
    best = min(scenes, key=lambda i: scenes[i].cost)
    focal, scene = np.exp(logs[best]), scenes[best]
    if best - 1 in scenes and best + 1 in scenes:
        a, b, c = (scenes[i].cost for i in (best - 1, best, best + 1))
        curvature = a - 2 * b + c
        if curvature > 0:
            refined = np.exp(logs[best] + 0.5 * (logs[1] - logs[0]) * (a - c) / curvature)
            candidate = adjust_globally(graph, with_focal(refined), settings, scene.poses, scene.inv_depth,
                                        rotation_only, CALIBRATION_ITERATIONS)
            tried.append((float(refined), candidate.cost))
            if candidate.cost < b:
                focal, scene = refined, candidate
    return with_focal(focal), scene, tried


def frame_poses(graph: FrameGraph, scene: Reconstruction, K: np.ndarray, settings: SlamSettings,
                count: int, rotation_only: bool = False) -> np.ndarray:
    """Poses of all frames: keyframes from the reconstruction; every other frame starts between
    its keyframe and the next one (by frame index) and is refined against its keyframe's depths,
    FRAME_CHUNK frames at a time."""
    poses = np.repeat(np.eye(4)[None], count, axis=0)
    keyframes = np.array(graph.keyframes)
    poses[keyframes] = scene.poses
    K_grid = grid_intrinsics(K)
    rays = pixel_rays(graph.pixels, K_grid)
    tracked = np.array(sorted(graph.tracked), int)
    for start in range(0, len(tracked), FRAME_CHUNK):
        frames = tracked[start:start + FRAME_CHUNK]
        refs, coords, weight = graph.tracked_correspondences(frames)
        following = np.minimum(refs + 1, len(keyframes) - 1)
        span = np.maximum(keyframes[following] - keyframes[refs], 1)
        alpha = np.clip((frames - keyframes[refs]) / span, 0.0, 1.0) * (following > refs)
        start = se3.interpolate(scene.poses[refs], scene.poses[following], alpha)
        poses[frames] = refine_poses(start, scene.poses[refs], scene.inv_depth[refs], rays, K_grid, coords,
                                     weight, huber=settings.huber, rotation_only=rotation_only)
    return poses
