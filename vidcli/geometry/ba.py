"""Dense bundle adjustment over keyframe poses and per-pixel inverse depths (DROID-SLAM's formulation).

Each keyframe k has a pose T_k (camera <- world, 4x4) and an inverse depth for every cell of a
coarse pixel grid (the same grid, `rays`, for every keyframe). An edge (i, j) says where each cell of
keyframe i lands in keyframe j (`coords`, grid pixels) and how much to trust it (`weight`). The
residual of a cell is coords - project(T_j T_i^-1 (ray, rho)). Levenberg-Marquardt steps solve the
normal equations after eliminating the depths with the Schur complement: each depth touches only
its own keyframe's pose and the poses its edges point to, so the depth block is diagonal.
A Huber loss (as weights) keeps wrong correspondences from dragging the solution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcli.geometry.projection import MIN_DEPTH, project, projection_jacobians, transform
from vidcli.geometry.se3 import adjoint, inverse, se3_exp

# Added to each depth's curvature: a share of the median curvature, and an absolute floor (squared
# grid pixels per unit inverse depth, with inverse depths of order 1) for depths the data barely sees.
DEPTH_DAMPING = 1e-4
DEPTH_FLOOR = 1e-3
POSE_DAMPING = 1e-9  # added to the pose system's diagonal, so fixed gauge directions stay solvable
INITIAL_LAMBDA = 1e-4  # Levenberg-Marquardt damping: start, growth on a failed step, shrink on success
LAMBDA_UP, LAMBDA_DOWN = 10.0, 3.0
MAX_LAMBDA = 1e4
CONVERGED = 1e-4  # a step that lowers the cost by less than this share ends the adjustment
EDGE_CHUNK = 16  # edges linearised at once (bounds the memory that many keyframes need)


@dataclass
class Edges:
    """Correspondences from every grid cell of keyframe `source[e]` into keyframe `target[e]`."""

    source: np.ndarray  # (E,) keyframe index
    target: np.ndarray  # (E,) keyframe index
    coords: np.ndarray  # (E, P, 2) where each cell lands in the target, grid pixels
    weight: np.ndarray  # (E, P) confidence in [0, 1]; 0 ignores the cell


@dataclass
class Solution:
    poses: np.ndarray  # (N, 4, 4) camera <- world
    inv_depth: np.ndarray  # (N, P)
    cost: float  # robust cost at the solution
    information: np.ndarray  # (N, P) curvature of the cost in each inverse depth (0: unconstrained)


def huber_weight(norm: np.ndarray, threshold: float) -> np.ndarray:
    """IRLS weights of the Huber loss on residual lengths."""
    return np.where(norm <= threshold, 1.0, threshold / np.maximum(norm, 1e-12))


def huber_cost(norm: np.ndarray, threshold: float) -> np.ndarray:
    return np.where(norm <= threshold, 0.5 * norm**2, threshold * (norm - 0.5 * threshold))


def _lengths(residual: np.ndarray) -> np.ndarray:
    """Lengths of 2D residuals (..., 2) (several times faster than np.linalg.norm)."""
    return np.sqrt(residual[..., 0] ** 2 + residual[..., 1] ** 2)


def _reproject(T_ji, rho, rays, K, coords):
    """Points in the target cameras, residuals (..., P, 2) and which points lie in front."""
    points = transform(T_ji, rays, rho)
    valid = points[..., 2] > MIN_DEPTH
    points = np.where(valid[..., None], points, np.array([0.0, 0.0, 1.0]))
    return points, coords - project(points, K), valid


def _cost(T_ji, rho, rays, K, coords, weight, huber: float) -> np.ndarray:
    """Robust cost per edge (...,); a point behind the camera costs like a residual of 10 thresholds."""
    _, residual, valid = _reproject(T_ji, rho, rays, K, coords)
    per_point = np.where(valid, huber_cost(_lengths(residual), huber), huber_cost(10.0 * huber, huber))
    return (weight * per_point).sum(-1)


def reprojection_cost(poses, inv_depth, rays, K, edges: Edges, huber: float) -> float:
    """The robust cost of a solution over all edges."""
    total = 0.0
    for chunk in _chunks(len(edges.source)):
        source, target = edges.source[chunk], edges.target[chunk]
        T_ji = poses[target] @ inverse(poses[source])
        total += float(_cost(T_ji, inv_depth[source], rays, K, edges.coords[chunk], edges.weight[chunk], huber).sum())
    return total


def _chunks(count: int) -> list[slice]:
    """Slices of EDGE_CHUNK edges covering `count`."""
    return [slice(start, start + EDGE_CHUNK) for start in range(0, count, EDGE_CHUNK)]


def bundle_adjust(poses: np.ndarray, inv_depth: np.ndarray, rays: np.ndarray, K: np.ndarray, edges: Edges,
                  fixed: np.ndarray, iterations: int = 8, huber: float = 0.5, rotation_only: bool = False) -> Solution:
    """Refine the poses not `fixed` (N,) bool and every source keyframe's inverse depths.

    `rays` (P, 3) are the grid cells' rays, `K` the grid's intrinsics, `huber` the Huber threshold
    in grid pixels. At least one pose should be fixed (the gauge); the scale stays free.
    `rotation_only` keeps the camera centres where they are.
    """
    poses, inv_depth = poses.copy(), inv_depth.copy()
    cost = reprojection_cost(poses, inv_depth, rays, K, edges, huber)
    damping = INITIAL_LAMBDA
    information = np.zeros_like(inv_depth)
    for _ in range(iterations):
        system = _normal_equations(poses, inv_depth, rays, K, edges, huber)
        information = system.depth_curvature
        while damping <= MAX_LAMBDA:
            pose_step, depth_step = _solve(system, fixed, damping, rotation_only)
            new_poses = se3_exp(pose_step) @ poses
            new_depth = np.maximum(inv_depth + depth_step, 0.0)
            new_cost = reprojection_cost(new_poses, new_depth, rays, K, edges, huber)
            if new_cost < cost:
                break
            damping *= LAMBDA_UP
        else:
            break
        converged = cost - new_cost < CONVERGED * cost
        poses, inv_depth, cost = new_poses, new_depth, new_cost
        damping = max(damping / LAMBDA_DOWN, 1e-9)
        if converged:
            break
    return Solution(poses, inv_depth, cost, information)


@dataclass
class _System:
    """Linearised problem: pose blocks, depth diagonal and their coupling, grouped by source keyframe."""

    H: np.ndarray  # (N, N, 6, 6) pose-pose blocks
    g: np.ndarray  # (N, 6) pose gradients (J^T W r)
    depth_curvature: np.ndarray  # (N, P) diagonal depth block
    depth_gradient: np.ndarray  # (N, P)
    own_coupling: np.ndarray  # (N, P, 6) depth of keyframe i with pose i
    edge_coupling: np.ndarray  # (E, P, 6) depth of the edge's source with the edge's target pose
    source: np.ndarray
    target: np.ndarray


def _normal_equations(poses, inv_depth, rays, K, edges: Edges, huber: float) -> _System:
    """Linearise every edge, EDGE_CHUNK edges at a time. Only the target pose's Jacobian J_j is
    formed: the source pose's is J_i = -J_j Ad(T_ji), so its blocks follow from J_j's with 6x6 products."""
    count, cells = inv_depth.shape
    H = np.zeros((count, count, 6, 6))
    g = np.zeros((count, 6))
    curvature, gradient = np.zeros((count, cells)), np.zeros((count, cells))
    own = np.zeros((count, cells, 6))
    edge_coupling = np.empty((len(edges.source), cells, 6))
    for chunk in _chunks(len(edges.source)):
        source, target = edges.source[chunk], edges.target[chunk]
        T_ji = poses[target] @ inverse(poses[source])
        rho = inv_depth[source]
        points, residual, valid = _reproject(T_ji, rho, rays, K, edges.coords[chunk])
        w = edges.weight[chunk] * valid * huber_weight(_lengths(residual), huber)
        J_j, J_d = projection_jacobians(points, rho, T_ji, K)
        wJ = J_j * w[..., None, None]
        weighted_rows = np.swapaxes(wJ.reshape(len(source), -1, 6), 1, 2)  # (E, 6, 2P)
        H_jj = weighted_rows @ J_j.reshape(len(source), -1, 6)
        g_j = (weighted_rows @ residual.reshape(len(source), -1, 1))[..., 0]
        Ad = adjoint(T_ji)
        Ad_T = np.swapaxes(Ad, 1, 2)
        np.add.at(H, (target, target), H_jj)
        np.add.at(H, (source, source), Ad_T @ H_jj @ Ad)
        np.add.at(H, (source, target), -Ad_T @ H_jj)
        np.add.at(H, (target, source), -H_jj @ Ad)
        np.add.at(g, target, g_j)
        np.add.at(g, source, -(Ad_T @ g_j[..., None])[..., 0])
        edge = np.einsum("epkc,epk->epc", wJ, J_d)  # per cell J_j^T w J_d: (E, P, 6)
        edge_coupling[chunk] = edge
        _add_rows(curvature, source, w * (J_d**2).sum(-1))
        _add_rows(gradient, source, w * (J_d * residual).sum(-1))
        _add_rows(own, source, -(edge @ Ad))
    return _System(H, g, curvature, gradient, own, edge_coupling, edges.source, edges.target)


def _add_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """out[rows[k]] += values[k] for every k, rows repeating (np.add.at is several times slower on long rows)."""
    for row in np.unique(rows):
        out[row] += values[rows == row].sum(0)


def _free_parameters(free_poses: np.ndarray, rotation_only: bool) -> np.ndarray:
    """Indices into the flattened (N * 6) pose parameters that a step may change."""
    components = np.arange(3, 6) if rotation_only else np.arange(6)
    return (6 * free_poses[:, None] + components[None]).reshape(-1)


def _solve(system: _System, fixed: np.ndarray, damping: float, rotation_only: bool):
    """Pose steps (N, 6) and depth steps (N, P) of one damped Gauss-Newton step."""
    count, cells = system.depth_curvature.shape
    C = system.depth_curvature
    scale = np.median(C[C > 0]) if (C > 0).any() else 1.0
    Q = 1.0 / (C * (1.0 + damping) + DEPTH_DAMPING * scale + DEPTH_FLOOR)
    S, b = system.H.copy(), system.g.copy()
    for i in np.unique(system.source):
        out = np.flatnonzero(system.source == i)
        poses = np.concatenate([[i], system.target[out]])
        coupling = np.concatenate([system.own_coupling[i][:, None], system.edge_coupling[out].transpose(1, 0, 2)], 1)
        coupling = coupling.reshape(cells, -1)  # (P, 6 * (1 + edges))
        weighted = coupling * Q[i][:, None]
        reduced = (weighted.T @ coupling).reshape(len(poses), 6, len(poses), 6).transpose(0, 2, 1, 3)
        np.add.at(S, (poses[:, None], poses[None, :]), -reduced)
        np.add.at(b, poses, -(weighted.T @ system.depth_gradient[i]).reshape(len(poses), 6))

    free = _free_parameters(np.flatnonzero(~fixed), rotation_only)
    pose_step = np.zeros(count * 6)
    if len(free):
        S_ff = S.transpose(0, 2, 1, 3).reshape(6 * count, 6 * count)[np.ix_(free, free)]
        diagonal = np.diag(S_ff).copy()
        S_ff[np.diag_indices_from(S_ff)] += damping * diagonal + POSE_DAMPING * max(diagonal.max(), 1.0)
        pose_step[free] = np.linalg.solve(S_ff, b.reshape(-1)[free])
    pose_step = pose_step.reshape(count, 6)

    coupled = np.einsum("npc,nc->np", system.own_coupling, pose_step)
    edge_terms = np.einsum("epc,ec->ep", system.edge_coupling, pose_step[system.target])
    np.add.at(coupled, system.source, edge_terms)
    depth_step = Q * (system.depth_gradient - coupled)
    return pose_step, depth_step


def refine_poses(poses: np.ndarray, reference: np.ndarray, ref_inv_depth: np.ndarray, rays: np.ndarray,
                 K: np.ndarray, coords: np.ndarray, weight: np.ndarray, iterations: int = 8,
                 huber: float = 0.5, rotation_only: bool = False) -> np.ndarray:
    """Motion-only refinement of M independent poses (M, 4, 4), each seen from its own reference
    keyframe (poses `reference` (M, 4, 4), inverse depths (M, P)) through `coords` (M, P, 2);
    `rays` (P, 3) are the grid's, or (M, P, 3) each pose's own (homogeneous points (ray, inverse
    depth) in its reference's frame, of any scale); `rotation_only` keeps their camera centres. A
    pose stops once a step lowers its cost by less than CONVERGED of it, or no step lowers it."""
    components = np.arange(3, 6) if rotation_only else np.arange(6)
    poses = poses.copy()
    ref_inverse = inverse(reference)
    damping = np.full(len(poses), INITIAL_LAMBDA)
    cost = _cost(poses @ ref_inverse, ref_inv_depth, rays, K, coords, weight, huber)
    active = np.arange(len(poses))
    for _ in range(iterations):
        if not len(active):
            break
        T_ji = poses[active] @ ref_inverse[active]
        depth, seen, trust = ref_inv_depth[active], coords[active], weight[active]
        seen_rays = rays[active] if rays.ndim == 3 else rays
        points, residual, valid = _reproject(T_ji, depth, seen_rays, K, seen)
        w = trust * valid * huber_weight(_lengths(residual), huber)
        J, _ = projection_jacobians(points, depth, T_ji, K)
        J = J[..., components]
        wJ = (J * w[..., None, None]).reshape(len(active), -1, len(components))
        H = np.swapaxes(wJ, 1, 2) @ J.reshape(len(active), -1, len(components))
        g = np.einsum("mrc,mr->mc", wJ, residual.reshape(len(active), -1))
        diagonal = np.diagonal(H, axis1=1, axis2=2)
        floor = POSE_DAMPING * np.maximum(diagonal.max(-1, keepdims=True), 1.0)
        before = cost[active]
        pending = np.ones(len(active), bool)
        for _ in range(4):  # a few damping increases per iteration, each pose on its own
            lam = damping[active]
            damped = H + (lam[:, None] * diagonal + floor)[..., None] * np.eye(len(components))
            step = np.zeros((len(active), 6))
            step[:, components] = np.linalg.solve(damped, g[..., None])[..., 0]
            candidate = se3_exp(step) @ poses[active]
            new_cost = _cost(candidate @ ref_inverse[active], depth, seen_rays, K, seen, trust, huber)
            better = pending & (new_cost < cost[active])
            poses[active[better]], cost[active[better]] = candidate[better], new_cost[better]
            damping[active] = np.where(better, lam / LAMBDA_DOWN, np.where(pending, lam * LAMBDA_UP, lam))
            pending &= ~better
            if not pending.any():
                break
        active = active[~pending & (before - cost[active] >= CONVERGED * before)]
    return poses
