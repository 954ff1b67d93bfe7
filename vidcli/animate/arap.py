"""Triangle meshes of silhouettes and their as-rigid-as-possible (ARAP) deformation in 2D.

`triangulate` samples a silhouette's outline and a grid inside it and keeps the Delaunay triangles
that lie inside the silhouette (a constrained triangulation in effect, at the sampling's scale).

`ArapDeformer` minimises, over the deformed vertex positions x (Sorkine & Alexa 2007; in 2D with
one rotation per triangle as in Liu et al. 2008):

    sum over triangles t and their edges (i, j) of  w_ij |(x_i - x_j) - R_t (p_i - p_j)|^2
    + handle_weight * sum over handles h of |B_h x - q_h|^2  +  anchor_weight * |x - x_guess|^2

where p is the rest shape, w the (clamped) cotangent weights, B_h a handle as barycentric
coordinates in a rest triangle and q_h its target. The last term, small, ties parts of the mesh
without handles to a caller's guess (linear blend skinning in `puppet`). Local steps fit each R_t
in closed form; global steps solve one sparse system whose matrix does not depend on the targets,
so it is factorised once.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from scipy.spatial import Delaunay

MIN_COTANGENT = 0.05
_EDGES = ((1, 2), (2, 0), (0, 1))  # the edges of a triangle, each opposite the corner of the same index


def triangulate(mask: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n, 2) in pixels (x, y) and triangles (m, 3) covering the True pixels of `mask`.

    Vertices are the outlines (outer and hole contours) sampled every `spacing` pixels plus a
    staggered grid of that spacing at least half a spacing inside. A Delaunay triangle is kept when
    its centroid and edge midpoints lie in the silhouette.
    """
    mask = np.asarray(mask, bool)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = [_resample(c[:, 0, :].astype(float), spacing) for c in contours if len(c) >= 3]
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    height, width = mask.shape
    rows = np.arange(spacing / 2, height, spacing * np.sqrt(3) / 2)
    grid = [(x + (spacing / 2 if r % 2 else 0.0), y) for r, y in enumerate(rows)
            for x in np.arange(spacing / 2, width, spacing)]
    grid = np.array([(x, y) for x, y in grid if x < width and inside[int(y), int(x)] > spacing / 2])
    points = np.concatenate(outline + ([grid] if len(grid) else []))
    points = np.unique(np.round(points, 2), axis=0)
    if len(points) < 3:
        return np.zeros((0, 2)), np.zeros((0, 3), int)
    triangles = Delaunay(points).simplices
    corners = points[triangles]
    probes = [corners.mean(axis=1)] + [(corners[:, a] + corners[:, b]) / 2 for a, b in _EDGES]
    keep = np.ones(len(triangles), bool)
    for probe in probes:
        x = np.clip(np.round(probe[:, 0]).astype(int), 0, width - 1)
        y = np.clip(np.round(probe[:, 1]).astype(int), 0, height - 1)
        keep &= mask[y, x]
    triangles = triangles[keep]
    used, triangles = np.unique(triangles, return_inverse=True)
    return points[used], triangles.reshape(-1, 3)


def _resample(contour: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` pixels of arc length along a closed contour (at least 3)."""
    closed = np.vstack([contour, contour[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    count = max(3, int(arc[-1] / spacing))
    at = np.linspace(0, arc[-1], count, endpoint=False)
    return np.stack([np.interp(at, arc, closed[:, 0]), np.interp(at, arc, closed[:, 1])], axis=1)


def barycentric(points: np.ndarray, vertices: np.ndarray,
                triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point (k, 2): the triangle containing it, or else the nearest one, and the point's
    barycentric coordinates (k, 3) there, clamped to the triangle."""
    corners = vertices[triangles]  # (m, 3, 2)
    found, weights = [], []
    for point in np.asarray(points, float):
        w = _barycentric_all(point, corners)
        inside = np.flatnonzero((w >= -1e-9).all(axis=1))
        if inside.size:
            t = inside[0]
        else:
            t = int(np.argmin(np.linalg.norm(corners.mean(axis=1) - point, axis=1)))
        clamped = np.clip(w[t], 0, None)
        found.append(t)
        weights.append(clamped / clamped.sum())
    return np.array(found, int), np.array(weights)


def _barycentric_all(point: np.ndarray, corners: np.ndarray) -> np.ndarray:
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    v0, v1, v2 = b - a, c - a, point - a
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    u = (v2[:, 0] * v1[:, 1] - v2[:, 1] * v1[:, 0]) / det
    v = (v0[:, 0] * v2[:, 1] - v0[:, 1] * v2[:, 0]) / det
    return np.stack([1 - u - v, u, v], axis=1)


class ArapDeformer:
    """ARAP deformation of one rest mesh with fixed handles; `deform` takes new handle targets."""

    def __init__(self, rest: np.ndarray, triangles: np.ndarray, handle_triangles: np.ndarray,
                 handle_weights: np.ndarray, handle_weight: float = 100.0, anchor_weight: float = 1e-3):
        self.rest = np.asarray(rest, float)
        self.triangles = np.asarray(triangles, int)
        n, m = len(self.rest), len(self.triangles)
        corners = self.rest[self.triangles]
        starts = self.triangles[:, [a for a, _ in _EDGES]]  # (m, 3)
        ends = self.triangles[:, [b for _, b in _EDGES]]
        # cotangent of the corner opposite each edge
        u = corners[:, [1, 2, 0]] - corners  # corner k -> next
        v = corners[:, [2, 0, 1]] - corners  # corner k -> previous
        cross = np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
        cot = (u * v).sum(axis=-1) / np.maximum(cross, 1e-12)
        self.edge_weights = np.maximum(cot / 2, MIN_COTANGENT)  # (m, 3)
        self.rest_edges = self.rest[ends] - self.rest[starts]  # (m, 3, 2)

        w = self.edge_weights.ravel()
        i, j = starts.ravel(), ends.ravel()
        laplacian = scipy.sparse.coo_matrix(
            (np.concatenate([w, w, -w, -w]), (np.concatenate([i, j, i, j]), np.concatenate([i, j, j, i]))),
            shape=(n, n)).tocsr()
        k = len(handle_triangles)
        rows = np.repeat(np.arange(k), 3)
        cols = self.triangles[np.asarray(handle_triangles, int)].ravel()
        self.handles = scipy.sparse.csr_matrix((np.asarray(handle_weights, float).ravel(), (rows, cols)),
                                               shape=(k, n))
        self.handle_weight, self.anchor_weight = handle_weight, anchor_weight
        system = (laplacian + handle_weight * (self.handles.T @ self.handles)
                  + anchor_weight * scipy.sparse.identity(n))
        self._solve = scipy.sparse.linalg.factorized(system.tocsc())
        # scatters weighted edge vectors (3m, 2) onto the edges' vertices: +end, -start
        edge_ids = np.arange(3 * m)
        self._scatter = scipy.sparse.csr_matrix(
            (np.concatenate([w, -w]), (np.concatenate([j, i]), np.concatenate([edge_ids, edge_ids]))),
            shape=(n, 3 * m))

    def rotations(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local step: each triangle's best rotation (cos, sin) from rest to `x`."""
        deformed = x[self.triangles[:, [b for _, b in _EDGES]]] - x[self.triangles[:, [a for a, _ in _EDGES]]]
        wr = self.edge_weights[..., None] * self.rest_edges
        s00 = (wr[..., 0] * deformed[..., 0]).sum(1)
        s11 = (wr[..., 1] * deformed[..., 1]).sum(1)
        s01 = (wr[..., 0] * deformed[..., 1]).sum(1)
        s10 = (wr[..., 1] * deformed[..., 0]).sum(1)
        angle = np.arctan2(s01 - s10, s00 + s11)
        return np.cos(angle), np.sin(angle)

    def deform(self, targets: np.ndarray, guess: np.ndarray, iterations: int = 3) -> np.ndarray:
        """Deformed vertices (n, 2) for handle targets (k, 2), starting from (and weakly tied to) `guess`."""
        x = np.asarray(guess, float)
        constant = self.handle_weight * (self.handles.T @ np.asarray(targets, float)) + self.anchor_weight * x
        for _ in range(iterations):
            cos, sin = self.rotations(x)
            e = self.rest_edges
            rotated = np.stack([cos[:, None] * e[..., 0] - sin[:, None] * e[..., 1],
                                sin[:, None] * e[..., 0] + cos[:, None] * e[..., 1]], axis=-1)
            rhs = self._scatter @ rotated.reshape(-1, 2) + constant
            x = np.column_stack([self._solve(rhs[:, 0]), self._solve(rhs[:, 1])])
        return x
