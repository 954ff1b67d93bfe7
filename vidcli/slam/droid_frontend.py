"""DROID-SLAM's tracking around its network (princeton-vl/DROID-SLAM's `motion_filter.py`,
`factor_graph.py`, `droid_frontend.py`, `droid_backend.py` and `trajectory_filler.py`), with vidcli's
dense bundle adjustment (`vidcli.geometry.ba`, Schur complement, numpy) in place of its CUDA layer.

- The motion filter: each frame's features are correlated with the last keyframe's, and one
  update-operator step from the identity predicts the flow; a mean flow above `filter_thresh`
  (grid pixels) makes the frame a keyframe. People's cells are left out of the mean.
- The frontend: after `warmup` keyframes, edges between keyframes up to 3 apart and 8 iterations,
  then edges by proximity and 8 more; then for each new keyframe, edges by proximity (`frontend_*`),
  3 iterations, and either the keyframe before last is dropped (when its neighbours are closer than
  2 `keyframe_thresh`) or 2 more iterations. Edges older than 20 iterations leave the active graph
  but keep their last correspondences in the bundle adjustment (DROID's inactive factors).
- Each iteration feeds the update operator the correlation around the current geometry's
  reprojection `coords1`, the flow `coords1 - coords0` and the residual `target - coords1`; its
  revision gives the new targets `coords1 + delta` and confidences, and two bundle-adjustment steps
  follow. People's cells get zero confidence at either end, as TRAM masks them.
- The backend: depths normalised to a mean of 1, a fresh graph over all keyframes by proximity
  (`backend_*`), 7 then 12 iterations; the trajectory filler then places every other frame from the
  keyframes before and after it (6 iterations of motion-only refinement).

Poses are camera <- world (the first keyframe is the world), grid coordinates have cell centres at
+0.5 (as `vidcli.slam.correspondence`; the network looks up at integer cells, hence the -0.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vidcli.errors import InputError
from vidcli.geometry import se3
from vidcli.geometry.ba import Edges, bundle_adjust, refine_poses
from vidcli.geometry.projection import MIN_DEPTH, pixel_rays, project, transform
from vidcli.slam.correspondence import CELL, grid_intrinsics, grid_pixels

MOTION_CLAMP = 64.0  # grid pixels, as DROID clamps the motion features
MIN_GRID = 8  # cells per side the 4-level correlation pyramid needs (1/8, 1/16, 1/32, 1/64)
FRONTEND_MAX_FACTORS = 48
BACKEND_FACTORS_PER_KEYFRAME = 16
MAX_AGE = 20  # iterations an edge stays in the frontend's active graph
WARMUP_ITERATIONS = 8  # each of the two rounds of the initialisation
ITERATIONS_BEFORE_REMOVAL, ITERATIONS_AFTER = 3, 2  # the frontend's iters1 and iters2
BA_STEPS = 2  # bundle-adjustment steps per iteration
BACKEND_STEPS = (7, 12)  # the two global passes at the end
FILL_ITERATIONS, FILL_CHUNK = 6, 16
OPERATOR_CHUNK = 8  # edges per update-operator call (bounds memory; the operator is per edge)
MIN_DISPARITY = 1e-3
FAR = 1000.0  # the distance of keyframes whose reprojections mostly fall behind the camera
MAX_DISTANCE = 100.0  # beyond this, keyframes are never linked by proximity
MIN_VALID_SHARE = 0.75


@dataclass
class DroidSettings:
    """DROID-SLAM's thresholds (demo.py's defaults); distances in grid pixels."""

    filter_thresh: float = 2.4
    warmup: int = 8
    keyframe_thresh: float = 4.0
    frontend_thresh: float = 16.0
    frontend_window: int = 25
    frontend_radius: int = 2
    frontend_nms: int = 1
    backend_thresh: float = 22.0
    backend_radius: int = 2
    backend_nms: int = 3
    beta: float = 0.3  # weight of the full motion against the translation's alone in the distance
    huber: float = 0.125  # Huber threshold of vidcli's bundle adjustment (grid pixels)


# operator(net, inp, corr, motion, ii, jj) -> (net, delta (E, H, W, 2), weight (E, H, W, 2)), torch;
# ii, jj: the frames each edge links (the network does not use them)
Operator = Callable


def network_operator(network) -> Operator:
    """DROID's update operator on a batch of edges (GraphAgg's damping and upsampling are not used)."""

    def operator(net, inp, corr, motion, ii, jj):
        net, delta, weight = network.update(net[None], inp[None], corr[None], motion[None])
        return net[0], delta[0], weight[0]

    return operator


@dataclass
class Features:
    fmap: object  # (128, H, W) torch: correlation features
    net: object = None  # (128, H, W): the hidden state edges from this keyframe start with
    inp: object = None  # (128, H, W): context


class Keyframes:
    """DROID's depth video: frame index, pose, inverse depths, features and people's cells of each
    keyframe, in the order they were added."""

    def __init__(self, K: np.ndarray, grid: tuple[int, int]):
        self.grid = grid
        self.pixels = grid_pixels(grid[1] * CELL, grid[0] * CELL)
        self.set_intrinsics(K)
        self.frames: list[int] = []
        self.poses: list[np.ndarray] = []
        self.disps: list[np.ndarray] = []
        self.information: list[np.ndarray] = []
        self.features: list[Features] = []
        self.people: list[np.ndarray | None] = []  # (rows, columns) bool or None

    def __len__(self) -> int:
        return len(self.frames)

    def append(self, frame: int, features: Features, people, pose: np.ndarray, disp: np.ndarray) -> None:
        self.frames.append(frame)
        self.poses.append(pose)
        self.disps.append(disp)
        self.information.append(np.zeros(len(self.rays)))
        self.features.append(features)
        self.people.append(people)

    def remove(self, index: int) -> None:
        for column in (self.frames, self.poses, self.disps, self.information, self.features, self.people):
            del column[index]

    def reproject(self, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
        """(E, P, 2) where each cell of keyframe ii lands in keyframe jj by the current geometry."""
        poses = np.stack(self.poses)
        T_ji = poses[jj] @ se3.inverse(poses[ii])
        return project(_in_front(transform(T_ji, self.rays, np.stack(self.disps)[ii])), self.K)

    def distance(self, ii: np.ndarray, jj: np.ndarray, beta: float) -> np.ndarray:
        """DROID's frame distance, both ways averaged: the mean flow the motion from ii to jj induces,
        weighted `beta`, plus that of its translation alone, weighted 1 - beta (grid pixels); FAR where
        under 3/4 of the points land in front of the camera."""
        return 0.5 * (self._distance(ii, jj, beta) + self._distance(jj, ii, beta))

    def _distance(self, ii, jj, beta):
        poses, disps = np.stack(self.poses), np.stack(self.disps)
        T_ji = poses[jj] @ se3.inverse(poses[ii])
        translation = T_ji.copy()
        translation[:, :3, :3] = np.eye(3)
        total = np.zeros(len(ii))
        valid = np.zeros(len(ii))
        for share, T in ((beta, T_ji), (1 - beta, translation)):
            points = transform(T, self.rays, disps[ii])
            front = points[..., 2] > MIN_DEPTH
            points[..., 2] = np.where(front, points[..., 2], 1.0)
            flow = np.linalg.norm(project(points, self.K) - self.pixels, axis=-1)
            total += share * (flow * front).sum(-1)
            valid += share * front.sum(-1)
        cells = len(self.rays)
        return np.where(valid / cells < MIN_VALID_SHARE, FAR, total / np.maximum(valid, 1e-9))

    def weights(self, confidence: np.ndarray, ii: np.ndarray, jj: np.ndarray,
                target: np.ndarray) -> np.ndarray:
        """(E, P) confidences of edges between keyframes, zero on people (see `masked_weights`)."""
        return masked_weights(confidence, target, self.grid, [self.people[i] for i in ii],
                              [self.people[j] for j in jj])

    def adjust(self, edges: Edges, t0: int, huber: float) -> None:
        """BA_STEPS steps of vidcli's dense bundle adjustment on `edges` (keyframe indices): the poses of
        keyframes from t0 on move, the depths of every keyframe an edge leaves from."""
        involved = np.unique(np.concatenate([edges.source, edges.target]))
        local = Edges(np.searchsorted(involved, edges.source), np.searchsorted(involved, edges.target),
                      edges.coords, edges.weight)
        solution = bundle_adjust(np.stack([self.poses[k] for k in involved]),
                                 np.stack([self.disps[k] for k in involved]), self.rays, self.K, local,
                                 involved < t0, BA_STEPS, huber)
        for k, pose, disp, information in zip(involved, solution.poses, solution.inv_depth,
                                               solution.information):
            self.poses[k], self.information[k] = pose, information
            self.disps[k] = np.maximum(disp, MIN_DISPARITY)

    def set_intrinsics(self, K: np.ndarray) -> None:
        """Intrinsics of the working images (the grid's follow)."""
        self.K = grid_intrinsics(K)
        self.rays = pixel_rays(self.pixels, self.K)

    def normalize(self) -> None:
        """Inverse depths to a mean of 1, translations scaled alike (DROID's `DepthVideo.normalize`)."""
        scale = float(np.mean(self.disps))
        self.disps = [disp / scale for disp in self.disps]
        for pose in self.poses:
            pose[:3, 3] *= scale


class FactorGraph:
    """DROID's factor graph: edges (ii -> jj) between keyframes with the update operator's hidden
    state, their latest targets and confidences, and the inactive edges kept for the adjustment."""

    def __init__(self, video: Keyframes, operator: Operator, settings: DroidSettings, max_factors: int = -1):
        import torch

        self.torch, self.video, self.operator, self.settings = torch, video, operator, settings
        self.max_factors = max_factors
        cells = len(video.rays)
        self.ii, self.jj, self.age = (np.zeros(0, int) for _ in range(3))
        self.net = None
        self.target, self.weight = np.zeros((0, cells, 2)), np.zeros((0, cells))
        self.ii_inactive, self.jj_inactive = np.zeros(0, int), np.zeros(0, int)
        self.target_inactive, self.weight_inactive = np.zeros((0, cells, 2)), np.zeros((0, cells))

    def _known(self, ii, jj) -> np.ndarray:
        """Which of the pairs are already active or inactive edges."""
        pairs = set(zip(self.ii.tolist(), self.jj.tolist())) | set(zip(self.ii_inactive.tolist(),
                                                                       self.jj_inactive.tolist()))
        return np.array([(i, j) in pairs for i, j in zip(ii.tolist(), jj.tolist())], bool)

    def add_factors(self, ii, jj, remove: bool = False) -> None:
        """New edges, starting from the current geometry's reprojection with zero confidence; with
        `remove`, the oldest edges make room beyond `max_factors`."""
        ii, jj = np.asarray(ii, int), np.asarray(jj, int)
        new = ~self._known(ii, jj) if len(ii) else np.zeros(0, bool)
        ii, jj = ii[new], jj[new]
        if not len(ii):
            return
        if remove and self.max_factors > 0 and len(self.ii) + len(ii) > self.max_factors:
            keep = max(self.max_factors - len(ii), 0)
            oldest = np.argsort(-self.age, kind="stable")[:len(self.ii) - keep]
            self.rm_factors(np.isin(np.arange(len(self.ii)), oldest), store=True)
        torch = self.torch
        net = torch.stack([self.video.features[i].net for i in ii])
        self.net = net if self.net is None else torch.cat([self.net, net])
        target = self.video.reproject(ii, jj)
        self.ii, self.jj = np.concatenate([self.ii, ii]), np.concatenate([self.jj, jj])
        self.age = np.concatenate([self.age, np.zeros(len(ii), int)])
        self.target = np.concatenate([self.target, target])
        self.weight = np.concatenate([self.weight, np.zeros(target.shape[:2])])

    def rm_factors(self, mask: np.ndarray, store: bool = False) -> None:
        """Drop the edges of `mask`; with `store`, keep their correspondences as inactive edges."""
        if store:
            self.ii_inactive = np.concatenate([self.ii_inactive, self.ii[mask]])
            self.jj_inactive = np.concatenate([self.jj_inactive, self.jj[mask]])
            self.target_inactive = np.concatenate([self.target_inactive, self.target[mask]])
            self.weight_inactive = np.concatenate([self.weight_inactive, self.weight[mask]])
        keep = ~mask
        self.ii, self.jj, self.age = self.ii[keep], self.jj[keep], self.age[keep]
        self.target, self.weight = self.target[keep], self.weight[keep]
        if self.net is not None:
            self.net = self.net[self.torch.from_numpy(keep).to(self.net.device)]

    def rm_keyframe(self, index: int) -> None:
        """Remove a keyframe, its edges, and renumber the later ones."""
        self.video.remove(index)
        touching = (self.ii_inactive == index) | (self.jj_inactive == index)
        self.ii_inactive, self.jj_inactive = self.ii_inactive[~touching], self.jj_inactive[~touching]
        self.target_inactive = self.target_inactive[~touching]
        self.weight_inactive = self.weight_inactive[~touching]
        self.ii_inactive -= self.ii_inactive > index
        self.jj_inactive -= self.jj_inactive > index
        self.rm_factors((self.ii == index) | (self.jj == index))
        self.ii -= self.ii > index
        self.jj -= self.jj > index

    def add_neighborhood_factors(self, t0: int, t1: int, radius: int = 3) -> None:
        ii, jj = np.meshgrid(np.arange(t0, t1), np.arange(t0, t1), indexing="ij")
        keep = (np.abs(ii - jj) > 0) & (np.abs(ii - jj) <= radius)
        self.add_factors(ii[keep], jj[keep])

    def add_proximity_factors(self, t0: int = 0, t1: int = 0, radius: int = 2, nms: int = 2,
                              beta: float = 0.3, thresh: float = 16.0, remove: bool = False) -> None:
        """Edges both ways between each keyframe from t0 on and the `radius` + 1 before it, then between
        the closest pairs (source from t0, target from t1, `distance` under `thresh`), suppressing
        pairs within `nms` of an edge already chosen or present (as DROID's `add_proximity_factors`)."""
        t = len(self.video)
        ii, jj = (a.reshape(-1) for a in np.meshgrid(np.arange(t0, t), np.arange(t1, t), indexing="ij"))
        d = self.video.distance(ii, jj, beta) if len(ii) else np.zeros(0)
        d[ii - radius < jj] = np.inf
        d[d > MAX_DISTANCE] = np.inf

        def suppress(i, j):
            reach = max(min(abs(i - j) - 2, nms), 0)
            for di in range(-nms, nms + 1):
                for dj in range(-nms, nms + 1):
                    if abs(di) + abs(dj) <= reach and t0 <= i + di < t and t1 <= j + dj < t:
                        d[(i + di - t0) * (t - t1) + (j + dj - t1)] = np.inf

        for i, j in zip(np.concatenate([self.ii, self.ii_inactive]),
                        np.concatenate([self.jj, self.jj_inactive])):
            suppress(int(i), int(j))
        edges = []
        for i in range(t0, t):
            for j in range(max(i - radius - 1, 0), i):
                edges += [(i, j), (j, i)]
                if j >= t1:
                    d[(i - t0) * (t - t1) + (j - t1)] = np.inf
        for k in np.argsort(d, kind="stable"):
            if d[k] > thresh:
                continue
            if self.max_factors > 0 and len(edges) > self.max_factors:
                break
            i, j = int(ii[k]), int(jj[k])
            edges += [(i, j), (j, i)]
            suppress(i, j)
        if edges:
            pairs = np.array(edges)
            self.add_factors(pairs[:, 0], pairs[:, 1], remove)

    def update(self, t0: int | None = None, use_inactive: bool = False) -> None:
        """One iteration: the update operator on every active edge (`revise_edges`), then BA_STEPS of
        bundle adjustment of the keyframes from t0 on (default: after the oldest source), with the
        inactive edges whose both ends are from t0 - 3 on when `use_inactive`. Nothing without edges."""
        if not len(self.ii):
            return
        self.revise_edges()
        if t0 is None:
            t0 = max(1, int(self.ii.min()) + 1)
        ii, jj, target, weight = self.ii, self.jj, self.target, self.weight
        if use_inactive:
            recent = (self.ii_inactive >= t0 - 3) & (self.jj_inactive >= t0 - 3)
            ii = np.concatenate([self.ii_inactive[recent], ii])
            jj = np.concatenate([self.jj_inactive[recent], jj])
            target = np.concatenate([self.target_inactive[recent], target])
            weight = np.concatenate([self.weight_inactive[recent], weight])
        self.video.adjust(Edges(ii, jj, target, weight), t0, self.settings.huber)

    def revise_edges(self) -> None:
        """The update operator on every active edge, OPERATOR_CHUNK at a time: new targets and
        confidences (zero on people) from the current geometry's reprojection."""
        video = self.video
        coords1 = video.reproject(self.ii, self.jj)
        confidence = np.zeros(self.weight.shape)
        nets = []
        for start in range(0, len(self.ii), OPERATOR_CHUNK):
            edges = slice(start, start + OPERATOR_CHUNK)
            ii, jj = self.ii[edges], self.jj[edges]
            inp = self.torch.stack([video.features[i].inp for i in ii])
            pyramid = _pyramid([video.features[i].fmap for i in ii], [video.features[j].fmap for j in jj])
            frames = np.array(video.frames)
            net, self.target[edges], confidence[edges] = revise(
                self.operator, self.net[edges], inp, pyramid, coords1[edges], self.target[edges], video,
                frames[ii], frames[jj])
            nets.append(net)
        self.net = self.torch.cat(nets)
        self.weight = video.weights(confidence, self.ii, self.jj, self.target)
        self.age += 1


def revise(operator: Operator, net, inp, pyramid, coords1: np.ndarray, target: np.ndarray, video: Keyframes,
           ii, jj):
    """One update-operator step on edges (from frames ii to frames jj) whose current reprojections
    are `coords1` (E, P, 2) and last
    targets `target`: (hidden state, new targets coords1 + delta, confidences (E, P), the mean of the
    operator's two channels)."""
    import torch

    rows, columns = video.grid
    edges = len(coords1)
    motion = np.concatenate([coords1 - video.pixels, target - coords1], -1)
    motion = torch.from_numpy(motion).float().to(net.device).view(edges, rows, columns, 4).permute(0, 3, 1, 2)
    moved = torch.from_numpy(coords1 - 0.5).float().to(net.device).view(edges, rows, columns, 2)
    with torch.inference_mode():
        motion = motion.clamp(-MOTION_CLAMP, MOTION_CLAMP)
        net, delta, weight = operator(net, inp, pyramid(moved), motion, ii, jj)
    delta = delta.reshape(edges, -1, 2).double().cpu().numpy()
    return net, coords1 + delta, weight.reshape(edges, -1, 2).mean(-1).double().cpu().numpy()


def _pyramid(sources: list, targets: list):
    import torch

    from vidcli.slam.droid_net import CorrelationPyramid

    return CorrelationPyramid(torch.stack(sources), torch.stack(targets))


class Frontend:
    """DROID's frontend: the initialisation after `warmup` (at least 4) keyframes, then one update per
    new keyframe, each predicting the next keyframe's pose and depth (`next_pose`, `next_disp`)."""

    def __init__(self, video: Keyframes, operator: Operator, settings: DroidSettings):
        self.video, self.settings = video, settings
        self.graph = FactorGraph(video, operator, settings, FRONTEND_MAX_FACTORS)
        self.t1 = 0
        self.initialized = False
        self.next_pose, self.next_disp = np.eye(4), 1.0

    def __call__(self) -> None:
        if not self.initialized and len(self.video) == self.settings.warmup:
            self.initialize()
        elif self.initialized and self.t1 < len(self.video):
            self.update()
        else:
            return
        # the next keyframe starts at the newest one's pose, with the median depth of the two before it
        self.next_pose = self.video.poses[self.t1 - 1].copy()
        self.next_disp = float(np.median(np.concatenate(self.video.disps[self.t1 - 3:self.t1 - 1])))

    def initialize(self) -> None:
        graph, settings = self.graph, self.settings
        self.t1 = len(self.video)
        graph.add_neighborhood_factors(0, self.t1, radius=3)
        for _ in range(WARMUP_ITERATIONS):
            graph.update(1, use_inactive=True)
        graph.add_proximity_factors(0, 0, radius=2, nms=2, thresh=settings.frontend_thresh)
        for _ in range(WARMUP_ITERATIONS):
            graph.update(1, use_inactive=True)
        self.initialized = True
        graph.rm_factors(graph.ii < settings.warmup - 4, store=True)

    def update(self) -> None:
        graph, settings, video = self.graph, self.settings, self.video
        self.t1 += 1
        graph.rm_factors(graph.age > MAX_AGE, store=True)
        graph.add_proximity_factors(max(self.t1 - 5, 0), max(self.t1 - settings.frontend_window, 0),
                                    radius=settings.frontend_radius, nms=settings.frontend_nms,
                                    thresh=settings.frontend_thresh, beta=settings.beta, remove=True)
        for _ in range(ITERATIONS_BEFORE_REMOVAL):
            graph.update(None, use_inactive=True)
        distance = video.distance(np.array([self.t1 - 4]), np.array([self.t1 - 2]), settings.beta)[0]
        if distance < 2 * settings.keyframe_thresh:
            graph.rm_keyframe(self.t1 - 3)
            self.t1 -= 1
        else:
            for _ in range(ITERATIONS_AFTER):
                graph.update(None, use_inactive=True)


def global_adjustment(video: Keyframes, operator: Operator, settings: DroidSettings,
                      steps: int) -> FactorGraph:
    """DROID's backend: depths normalised, a graph over all keyframes by proximity, `steps`
    iterations with the first keyframe fixed. Returns the graph (its final correspondences)."""
    video.normalize()
    graph = FactorGraph(video, operator, settings, BACKEND_FACTORS_PER_KEYFRAME * len(video))
    graph.add_proximity_factors(radius=settings.backend_radius, nms=settings.backend_nms,
                                thresh=settings.backend_thresh, beta=settings.beta)
    for _ in range(steps):
        graph.update(1)
    return graph


class MotionFilter:
    """Features of each frame, and whether it moved `filter_thresh` from the last keyframe."""

    def __init__(self, network, device: str, thresh: float):
        import torch

        self.torch, self.device = torch, torch.device(device)
        self.network, self.thresh = network.eval().to(self.device), thresh
        self.operator = network_operator(self.network)

    def images(self, rgb: np.ndarray):
        """The network's normalised input (1, 1, 3, H, W) of an RGB frame cropped to whole cells."""
        rows, columns = rgb.shape[0] // CELL, rgb.shape[1] // CELL
        image = self.torch.from_numpy(np.ascontiguousarray(rgb[:rows * CELL, :columns * CELL]))
        return self.network.normalised(image.permute(2, 0, 1)[None, None].float().to(self.device))

    def features(self, rgb: np.ndarray) -> Features:
        """The correlation features of a frame (what every frame needs)."""
        with self.torch.inference_mode():
            return Features(self.network.fnet(self.images(rgb))[0, 0])

    def with_context(self, features: Features, rgb: np.ndarray) -> Features:
        """The frame's features with its hidden state and context (what a keyframe needs)."""
        with self.torch.inference_mode():
            net, inp = self.network.context(self.images(rgb))
        return Features(features.fmap, net[0, 0], inp[0, 0])

    def flow(self, keyframe: Features, people, frame: Features) -> float:
        """Mean length (grid pixels) of the flow one update step predicts from the keyframe to the
        frame, over the keyframe's cells without people."""
        torch = self.torch
        rows, columns = frame.fmap.shape[-2:]
        y, x = torch.meshgrid(torch.arange(rows, device=self.device),
                              torch.arange(columns, device=self.device), indexing="ij")
        coords0 = torch.stack([x, y], -1).float()[None]
        with torch.inference_mode():
            corr = _pyramid([keyframe.fmap], [frame.fmap])(coords0)
            motion = torch.zeros(1, 4, rows, columns, device=self.device)
            _, delta, _ = self.operator(keyframe.net[None], keyframe.inp[None], corr, motion, None, None)
        length = delta[0].norm(dim=-1).double().cpu().numpy()
        background = np.ones((rows, columns), bool) if people is None else ~people
        return float(length[background].mean()) if background.any() else 0.0


def masked_weights(confidence: np.ndarray, target: np.ndarray, grid: tuple[int, int], source_people: list,
                   target_people: list) -> np.ndarray:
    """(E, P) confidences, zero where the source cell holds a person or the target (E, P, 2) lands
    outside the grid or on a person; people are (rows, columns) bool cells or None per edge."""
    rows, columns = grid
    x, y = target[..., 0], target[..., 1]
    weight = confidence * ((x >= 0) & (x < columns) & (y >= 0) & (y < rows))
    column, row = np.clip(x.astype(int), 0, columns - 1), np.clip(y.astype(int), 0, rows - 1)
    for edge, (source, landed) in enumerate(zip(source_people, target_people)):
        if source is not None:
            weight[edge] *= ~source.reshape(-1)
        if landed is not None:
            weight[edge] *= ~landed[row[edge], column[edge]]
    return weight


def people_cells(mask: np.ndarray | None, grid: tuple[int, int]) -> np.ndarray | None:
    """(rows, columns) bool: cells with any person pixel (None without a mask)."""
    if mask is None:
        return None
    rows, columns = grid
    return mask[:rows * CELL, :columns * CELL].reshape(rows, CELL, columns, CELL).any(axis=(1, 3))


def fill_trajectory(video: Keyframes, operator: Operator, frames: list[int], load: Callable,
                    huber: float) -> dict[int, np.ndarray]:
    """Poses of non-keyframes, whose (features, people cells) `load(frame)` gives (FILL_CHUNK frames
    are held at once, as DROID's trajectory filler streams them): each starts between the keyframes
    around it (geodesic interpolation by frame index) and is refined over FILL_ITERATIONS iterations
    of the update operator on the edges from those two keyframes, each followed by motion-only
    steps (a frame after the last keyframe has the one edge)."""
    import torch

    keyframes = np.array(video.frames)
    poses = np.stack(video.poses)
    order = sorted(frames)
    filled = {}
    for start in range(0, len(order), FILL_CHUNK):
        chunk = np.array(order[start:start + FILL_CHUNK])
        count = len(chunk)
        before = np.searchsorted(keyframes, chunk, side="right") - 1
        after = np.minimum(before + 1, len(keyframes) - 1)
        span = np.maximum(keyframes[after] - keyframes[before], 1)
        alpha = np.clip((chunk - keyframes[before]) / span, 0.0, 1.0) * (after > before)
        current = se3.interpolate(poses[before], poses[after], alpha)
        sources, targets = np.concatenate([before, after]), np.concatenate([chunk, chunk])  # the edges
        disps = np.stack(video.disps)[sources]
        features, people = zip(*(load(int(f)) for f in chunk))
        net = torch.stack([video.features[k].net for k in sources])
        inp = torch.stack([video.features[k].inp for k in sources])
        pyramid = _pyramid([video.features[k].fmap for k in sources], [f.fmap for f in features * 2])
        # refine_poses sees both edges from the keyframe before: the cells of the one after as
        # homogeneous points (ray, inverse depth) in its frame
        T_before_after = poses[before] @ se3.inverse(poses[after])
        rays = np.concatenate([np.broadcast_to(video.rays, (count, *video.rays.shape)),
                               transform(T_before_after, video.rays, disps[count:])], axis=1)
        target = None
        for _ in range(FILL_ITERATIONS):
            T = np.concatenate([current, current]) @ se3.inverse(poses[sources])
            coords1 = project(_in_front(transform(T, video.rays, disps)), video.K)
            net, target, confidence = revise(operator, net, inp, pyramid, coords1,
                                             coords1 if target is None else target, video,
                                             keyframes[sources], targets)
            weights = masked_weights(confidence, target, video.grid, [video.people[k] for k in sources],
                                     people * 2)
            weights[count:] *= (after > before)[:, None]  # after the last keyframe: the edge before only
            current = refine_poses(current, poses[before], _per_frame(disps, count), rays, video.K,
                                   _per_frame(target, count), _per_frame(weights, count), iterations=BA_STEPS,
                                   huber=huber)
        filled.update(zip(chunk.tolist(), current))
    return filled


def _per_frame(values: np.ndarray, count: int) -> np.ndarray:
    """(2 count, P, ...) values of the edges from the keyframes before and after -> (count, 2 P, ...)."""
    return np.concatenate([values[:count], values[count:]], axis=1)


def _in_front(points: np.ndarray) -> np.ndarray:
    points[..., 2] = np.where(points[..., 2] > MIN_DEPTH, points[..., 2], MIN_DEPTH)
    return points




def track(read: Callable, count: int, network, device: str, K: np.ndarray, settings: DroidSettings,
          calibrate: bool, slam, advance: Callable[[], None] = lambda: None):
    """Camera poses of `count` frames by DROID-SLAM's tracking, as `vidcli.slam.tracker.track` gives them
    (`read(i)`: frame i's working RGB image and people mask or None; `K`: the working images'
    intrinsics). With `calibrate`, the focal is swept on the final correspondences
    (`vidcli.slam.tracker.calibrate_focal`, SlamSettings `slam`) and the keyframes adjusted to it."""
    import torch

    from vidcli.slam.tracker import SlamResult, static_result

    rgb, _ = read(0)
    grid = (rgb.shape[0] // CELL, rgb.shape[1] // CELL)
    if min(grid) < MIN_GRID:
        raise InputError(f"the droid camera needs working images of at least {MIN_GRID * CELL} pixels "
                         f"per side; raise camera.max_size")
    with torch.inference_mode():
        motion = MotionFilter(network, device, settings.filter_thresh)
        video = Keyframes(K, grid)
        frontend = Frontend(video, motion.operator, settings)
        add_keyframes(read, count, motion, frontend, advance)
        if len(video) < 2:
            return static_result(count, K, grid, textured_frames=count)
        if not frontend.initialized:  # fewer keyframes than the warm-up needs: initialise with these
            frontend.initialize()
        del frontend
        for steps in BACKEND_STEPS:
            graph = global_adjustment(video, motion.operator, settings, steps)
        focal_costs = []
        if calibrate:
            K, focal_costs = _calibrate(video, graph, K, slam)
        others = sorted(set(range(count)) - set(video.frames))

        def load(frame: int):
            rgb, mask = read(frame)
            return motion.features(rgb), people_cells(mask, grid)

        filled = fill_trajectory(video, motion.operator, others, load, settings.huber)
    poses = np.repeat(np.eye(4)[None], count, axis=0)
    poses[video.frames] = np.stack(video.poses)
    for frame, pose in filled.items():
        poses[frame] = pose
    return SlamResult(poses, K, False, np.array(video.frames), np.stack(video.disps),
                      np.stack(video.information), grid, focal_costs=focal_costs, textured_frames=count)


def add_keyframes(read: Callable, count: int, motion: MotionFilter, frontend: Frontend,
                  advance: Callable[[], None] = lambda: None) -> None:
    """Read the frames in order: the first, and each whose flow from the last keyframe exceeds the
    motion filter's threshold, join the frontend's keyframes (each starting from the frontend's
    prediction of its pose and depth), and the frontend runs after each."""
    video = frontend.video
    for frame in range(count):
        rgb, mask = read(frame)
        people = people_cells(mask, video.grid)
        features = motion.features(rgb)
        if not video.frames or motion.flow(video.features[-1], video.people[-1], features) > motion.thresh:
            video.append(frame, motion.with_context(features, rgb), people, frontend.next_pose.copy(),
                         np.full(len(video.rays), frontend.next_disp))
            frontend()
        advance()


def _calibrate(video: Keyframes, graph: FactorGraph, K: np.ndarray, slam):
    """(K, [(focal, cost), ...]): the focal of lowest reprojection cost on the backend's final
    correspondences (`calibrate_focal`), and the keyframes adjusted globally to it."""
    from vidcli.slam.tracker import FrameGraph, adjust_globally, calibrate_focal

    rows, columns = video.grid
    frames = FrameGraph(columns * CELL, rows * CELL, keyframes=list(video.frames))
    for i, j, target, weight in zip(graph.ii, graph.jj, graph.target, graph.weight):
        frames.link(int(i), int(j), target, weight)
    K, _, tried = calibrate_focal(frames, K, slam)
    scene = adjust_globally(frames, K, slam, np.stack(video.poses), np.stack(video.disps))
    video.set_intrinsics(K)
    video.poses, video.disps = list(scene.poses), list(np.maximum(scene.inv_depth, MIN_DISPARITY))
    video.information = list(scene.information)
    return K, tried
