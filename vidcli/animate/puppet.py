"""The embedded animation backend: the reference person as a mesh puppet, posed by ARAP, drawn over
the reference's background with the person filled in (as Meta's AnimatedDrawings does for drawings).

Building a puppet:

- the silhouette (dilated a little, so its soft edge is covered) is triangulated (`arap.triangulate`);
- each vertex belongs to the body part of its nearest rig bone (torso, head, upper arms, forearms,
  thighs, shins), stray islands of a part joining the part around them;
- a triangle joining two parts stays joined only if the parts meet at a joint and the triangle lies
  within a radius of it; otherwise it goes to one part with copies of the other part's vertices, so
  that an arm lying along the body, or legs touching, come apart;
- limb triangles lying on the torso (inside the shoulder-hip quadrilateral) are copied into the
  torso, textured with the limb inpainted away, so the torso shows no hole where an arm was;
- vertices get linear-blend-skinning weights from their distance to the bones of their part (and,
  near a joint, of the part meeting it there);
- handles: the joints and the midpoint of each bone, each a point of a triangle of its own parts.

Posing a frame: bones move by the rotation and stretch that take each rest bone onto the posed one,
vertices follow by skinning, and ARAP, pinned at the handles (moved by their bones), makes the
result as rigid as possible. Parts are drawn in depth order: a limb whose joints lie behind the
torso (by the driving person's depth) is drawn before the torso, the others after it, arms over
legs. The texture's alpha is the person mask with a narrowed soft edge; colours near the edge come
from the person's inside, so the old background does not travel with the person as a fringe.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from vidcli.animate import skeleton
from vidcli.animate.arap import ArapDeformer, barycentric, triangulate
from vidcli.errors import InputError

# Rig bones (joint pairs) per body part, in the default drawing order (later parts on top).
PARTS = {
    "torso": ((1, 2), (1, 5), (1, 8), (1, 11), (8, 11)),
    "head": ((1, 0), (0, 14), (0, 15), (14, 16), (15, 17)),
    "right_thigh": ((8, 9),), "left_thigh": ((11, 12),),
    "right_shin": ((9, 10),), "left_shin": ((12, 13),),
    "right_upper_arm": ((2, 3),), "left_upper_arm": ((5, 6),),
    "right_forearm": ((3, 4),), "left_forearm": ((6, 7),),
}
# Where two parts meet: the joint, and the bone whose length sets the radius of the joint region.
JOINTS = {
    ("torso", "head"): (1, (1, 0)),
    ("torso", "right_upper_arm"): (2, (2, 3)), ("torso", "left_upper_arm"): (5, (5, 6)),
    ("right_upper_arm", "right_forearm"): (3, (3, 4)), ("left_upper_arm", "left_forearm"): (6, (6, 7)),
    ("torso", "right_thigh"): (8, (8, 9)), ("torso", "left_thigh"): (11, (11, 12)),
    ("right_thigh", "right_shin"): (9, (9, 10)), ("left_thigh", "left_shin"): (12, (12, 13)),
}
PART_NAMES = list(PARTS)
TORSO = PART_NAMES.index("torso")
JOINT_RADIUS = 0.45  # of the bone length
PINNED = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)  # the ears are left free
BEHIND_MARGIN = 0.05  # metres a limb must be behind the torso to be drawn behind it
SKIN_POWER = 4
MASK_THRESHOLD = 0.5
EDGE = (0.25, 0.75)  # the mask values over which the drawn person fades in
SURE = 0.9  # mask value above which a pixel's colour is the person's alone


class Puppet:
    """The reference person, rigged to its OpenPose-18 keypoints, at the output size."""

    def __init__(self, rgb: np.ndarray, mask: np.ndarray, keypoints: np.ndarray, spacing: float,
                 arap_iterations: int = 3):
        self.size = rgb.shape[1], rgb.shape[0]
        self.iterations = arap_iterations
        present = skeleton.visible(keypoints)
        self.rest_joints = keypoints[:, :2].astype(float)
        self.bones = [(a, b) for bones in PARTS.values() for a, b in bones if present[a] and present[b]]
        self.bone_part = np.array([PART_NAMES.index(_part_of(bone)) for bone in self.bones])

        solid = mask >= MASK_THRESHOLD
        grow = max(1, round(spacing / 4))
        silhouette = cv2.dilate(solid.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
        vertices, triangles = triangulate(silhouette, spacing)
        if not len(triangles):
            raise InputError("the reference person's silhouette is empty: nothing to animate")
        vertex_part = _merge_strays(triangles, self.bone_part[self._bone_distances(vertices).argmin(axis=1)])
        mesh = _Mesh(vertices, vertex_part)
        triangle_part = np.array([mesh.separate(tri, self.rest_joints) for tri in triangles])
        parted = mesh.triangles
        underlay = self._underlay(vertices, triangles, triangle_part)
        under_triangles = [mesh.underlay(tri) for tri in triangles[underlay]]

        self.rest = vertices[mesh.source]
        self.triangles = np.array(parted + under_triangles, int).reshape(-1, 3)
        self.triangle_part = np.concatenate([triangle_part, np.full(len(under_triangles), TORSO)])
        self.is_underlay = np.arange(len(self.triangles)) >= len(parted)
        height = self.size[1]
        self.uv = self.rest[self.triangles] + np.where(self.is_underlay, height, 0)[:, None, None] * [0, 1]
        self.weights = self._skinning_weights(self._bone_distances(self.rest), np.array(mesh.part))

        handle_triangles, handle_bary = [], []
        self.handle_bones: list[int] = []
        self.handle_points: list[np.ndarray] = []
        for joint in PINNED:
            if present[joint]:
                self._bind(joint, joint, handle_triangles, handle_bary)
        for a, b in self.bones:
            if a in PINNED and b in PINNED:
                self._bind(a, b, handle_triangles, handle_bary)
        self.deformer = ArapDeformer(self.rest, self.triangles, np.array(handle_triangles, int),
                                     np.array(handle_bary))
        texture = person_texture(rgb, mask)
        underlay_texture = self._underlay_texture(texture, vertices, triangles[underlay])
        self.texture = np.concatenate([texture, underlay_texture])
        self.background = fill_background(rgb, mask)

    def _bone_distances(self, points: np.ndarray) -> np.ndarray:
        """(n, B) distance of each point to each rig bone segment."""
        a = self.rest_joints[[a for a, _ in self.bones]]
        b = self.rest_joints[[b for _, b in self.bones]]
        ab = b - a
        t = np.clip(((points[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0, 1)
        return np.linalg.norm(points[:, None] - (a + t[..., None] * ab), axis=-1)

    def _underlay(self, vertices, triangles, triangle_part) -> np.ndarray:
        """Which triangles are limbs lying on the torso (inside the shoulder-hip quadrilateral)."""
        corners = [2, 5, 11, 8]
        if not all(any(j in bone for bone in self.bones) for j in corners):
            return np.zeros(len(triangles), bool)
        quad = self.rest_joints[corners].astype(np.float32)
        centroids = vertices[triangles].mean(axis=1)
        inside = np.array([cv2.pointPolygonTest(quad, (float(x), float(y)), False) >= 0
                           for x, y in centroids])
        return inside & ~np.isin(triangle_part, [TORSO, PART_NAMES.index("head")])

    def _underlay_texture(self, texture, vertices, triangles) -> np.ndarray:
        """The texture with the limbs lying on the torso inpainted away, opaque there."""
        hole = np.zeros(texture.shape[:2], np.uint8)
        for tri in vertices[triangles]:
            cv2.fillConvexPoly(hole, np.round(tri * 16).astype(np.int32), 1, shift=4)
        if not hole.any():
            return texture
        out = texture.copy()
        out[:, :, :3] = inpaint(texture[:, :, :3], hole)
        out[:, :, 3] = np.maximum(out[:, :, 3], hole * 255)
        return out

    def _skinning_weights(self, distances: np.ndarray, vertex_part: np.ndarray) -> np.ndarray:
        """(n, B) weights from bone distance, over the bones of the vertex's part and, near a joint where
        its part meets another, that part's bones too."""
        allowed = self.bone_part[None, :] == vertex_part[:, None]
        for (first, second), (joint, (a, b)) in JOINTS.items():
            i, j = PART_NAMES.index(first), PART_NAMES.index(second)
            radius = JOINT_RADIUS * np.linalg.norm(self.rest_joints[b] - self.rest_joints[a])
            near = np.linalg.norm(self.rest - self.rest_joints[joint], axis=1) <= radius
            for mine, other in ((i, j), (j, i)):
                allowed |= (near & (vertex_part == mine))[:, None] & (self.bone_part == other)[None, :]
        scale = np.median([np.linalg.norm(self.rest_joints[b] - self.rest_joints[a]) for a, b in self.bones])
        weights = np.where(allowed, 1.0 / (distances / scale + 0.05) ** SKIN_POWER, 0.0)
        return weights / weights.sum(axis=1, keepdims=True)

    def _bind(self, a, b, triangles, bary):
        """Add a handle at the midpoint of joints a and b (a joint when a == b): a point of a triangle of
        the parts of the bones touching them, moved by one of those bones."""
        point = (self.rest_joints[a] + self.rest_joints[b]) / 2
        bones = [i for i, bone in enumerate(self.bones) if a in bone and b in bone]
        candidates = np.flatnonzero(np.isin(self.triangle_part, self.bone_part[bones]) & ~self.is_underlay)
        if not candidates.size:
            return
        found, weights = barycentric(point[None], self.rest, self.triangles[candidates])
        triangle = candidates[found[0]]
        triangles.append(triangle)
        bary.append(weights[0])
        self.handle_points.append(weights[0] @ self.rest[self.triangles[triangle]])
        self.handle_bones.append(next(i for i in bones if self.bone_part[i] == self.triangle_part[triangle]))

    def pose(self, joints: np.ndarray) -> np.ndarray:
        """Deformed vertices (n, 2) for posed joint positions (18, 2) at the output size."""
        transforms = [_bone_transform(self.rest_joints[a], self.rest_joints[b], joints[a], joints[b])
                      for a, b in self.bones]
        matrices = np.array([m for m, _ in transforms])  # (B, 2, 2)
        offsets = np.array([o for _, o in transforms])  # (B, 2)
        moved = np.einsum("bij,nj->nbi", matrices, self.rest) + offsets  # (n, B, 2)
        guess = (self.weights[..., None] * moved).sum(axis=1)
        bones = np.array(self.handle_bones)
        targets = np.einsum("hij,hj->hi", matrices[bones], np.array(self.handle_points)) + offsets[bones]
        return self.deformer.deform(targets, guess, self.iterations)

    def draw_order(self, depth: np.ndarray) -> list[int]:
        """Part indices, back to front, for one frame's keypoint depths (18,) (NaN: the default order)."""
        torso_joints = depth[[2, 5, 8, 11]]
        torso = np.nanmean(torso_joints) if not np.isnan(torso_joints).all() else np.nan
        behind, front = [], []
        for index, (name, bones) in enumerate(PARTS.items()):
            joint_depths = depth[sorted({j for bone in bones for j in bone})]
            part_depth = np.nanmean(joint_depths) if not np.isnan(joint_depths).all() else np.nan
            is_behind = name != "torso" and part_depth > torso + BEHIND_MARGIN
            (behind if is_behind else front).append(index)
        return behind + front

    def render(self, vertices: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """The frame (H, W, 3 uint8): the posed puppet over the filled background."""
        width, height = self.size
        ids = np.full((height, width), -1, np.int32)
        corners = np.round(vertices[self.triangles] * 16).astype(np.int32)  # 4 fractional bits
        for part in self.draw_order(depth):
            for t in np.flatnonzero(self.triangle_part == part):
                cv2.fillConvexPoly(ids, corners[t], int(t), lineType=cv2.LINE_8, shift=4)
        ys, xs = np.nonzero(ids >= 0)
        if not len(xs):
            return self.background.copy()
        a = _affine_to_rest(vertices[self.triangles], self.uv)[ids[ys, xs]]
        map_x = np.full((height, width), -1, np.float32)
        map_y = np.full((height, width), -1, np.float32)
        map_x[ys, xs] = a[:, 0, 0] * xs + a[:, 0, 1] * ys + a[:, 0, 2]
        map_y[ys, xs] = a[:, 1, 0] * xs + a[:, 1, 1] * ys + a[:, 1, 2]
        sampled = cv2.remap(self.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0)
        alpha = sampled[:, :, 3:].astype(np.float32) / 255
        out = self.background * (1 - alpha) + sampled[:, :, :3] * alpha
        return np.round(out).astype(np.uint8)


def _merge_strays(triangles: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Vertex labels where every connected region of one label that is not that label's largest takes
    the label most common among the vertices around it (so no part has stray islands)."""
    edges = np.unique(np.sort(triangles[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1), axis=0)
    labels = labels.copy()
    n = len(labels)
    while True:
        same = edges[labels[edges[:, 0]] == labels[edges[:, 1]]]
        graph = scipy.sparse.coo_matrix((np.ones(len(same)), (same[:, 0], same[:, 1])), shape=(n, n))
        _, region = scipy.sparse.csgraph.connected_components(graph, directed=False)
        sizes = np.bincount(region)
        main = {}
        for label in set(labels):
            regions = region[labels == label]
            main[label] = regions[np.argmax(sizes[regions])]
        changed = False
        for r in [r for r in np.unique(region) if main[labels[region == r][0]] != r]:
            members = region == r
            across = edges[members[edges[:, 0]] != members[edges[:, 1]]].ravel()
            around = labels[across[~members[across]]]
            if len(around):  # an island of the mesh keeps its label
                labels[members] = np.bincount(around).argmax()
                changed = True
        if not changed:
            return labels


def _part_of(bone: tuple[int, int]) -> str:
    return next(name for name, bones in PARTS.items() if bone in bones)


class _Mesh:
    """Vertices being separated into parts: each new vertex is a copy of a triangulation vertex."""

    def __init__(self, vertices: np.ndarray, vertex_part: np.ndarray):
        self.vertices, self.vertex_part = vertices, vertex_part
        self.source = list(range(len(vertices)))
        self.part = list(vertex_part)
        self.triangles: list[list[int]] = []
        self._copies: dict[tuple[int, object], int] = {}

    def _copy(self, vertex: int, key, part: int) -> int:
        if (vertex, key) not in self._copies:
            self._copies[vertex, key] = len(self.source)
            self.source.append(vertex)
            self.part.append(part)
        return self._copies[vertex, key]

    def separate(self, triangle: np.ndarray, joints: np.ndarray) -> int:
        """Add a triangle and return its part. A triangle joining two parts that meet at a joint, near
        it, stays joined (its part is the one farther from the torso); otherwise it belongs to the
        part most of its vertices have and its other vertices are replaced by copies of that part."""
        parts = self.vertex_part[triangle]
        if parts.min() == parts.max():
            self.triangles.append(list(triangle))
            return int(parts[0])
        names = tuple(PART_NAMES[p] for p in sorted(set(parts)))
        if names in JOINTS:
            joint, (a, b) = JOINTS[names]
            centroid = self.vertices[triangle].mean(axis=0)
            radius = JOINT_RADIUS * np.linalg.norm(joints[b] - joints[a])
            if np.linalg.norm(centroid - joints[joint]) <= radius:
                self.triangles.append(list(triangle))
                return int(parts.max())
        values, counts = np.unique(parts, return_counts=True)
        owner = int(values[counts == counts.max()].max())
        self.triangles.append([v if self.vertex_part[v] == owner else self._copy(v, owner, owner)
                               for v in triangle])
        return owner

    def underlay(self, triangle: np.ndarray) -> list[int]:
        """A torso copy of a limb triangle lying on the torso, joined to the torso's own vertices."""
        return [v if self.vertex_part[v] == TORSO else self._copy(v, "underlay", TORSO) for v in triangle]


def _bone_transform(a, b, a2, b2) -> tuple[np.ndarray, np.ndarray]:
    """(M, o) with p -> M p + o taking bone a->b onto a2->b2: rotated, and stretched along the bone only."""
    rest, posed = b - a, b2 - a2
    rest_length, posed_length = np.linalg.norm(rest), np.linalg.norm(posed)
    if rest_length < 1e-9 or posed_length < 1e-9:
        return np.eye(2), a2 - a
    u, v = rest / rest_length, posed / posed_length
    stretch = np.eye(2) + (posed_length / rest_length - 1) * np.outer(u, u)
    cos, sin = u @ v, u[0] * v[1] - u[1] * v[0]
    rotation = np.array([[cos, -sin], [sin, cos]])
    matrix = rotation @ stretch
    return matrix, a2 - matrix @ a


def _affine_to_rest(posed: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Per triangle (m, 2, 3) the affine map from posed to rest coordinates (zero where degenerate)."""
    p0 = posed[:, 0]
    e = np.stack([posed[:, 1] - p0, posed[:, 2] - p0], axis=2)  # (m, 2, 2) columns are edges
    r = np.stack([rest[:, 1] - rest[:, 0], rest[:, 2] - rest[:, 0]], axis=2)
    det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    ok = np.abs(det) > 1e-9
    inv = np.zeros_like(e)
    inv[ok, 0, 0], inv[ok, 1, 1] = e[ok, 1, 1] / det[ok], e[ok, 0, 0] / det[ok]
    inv[ok, 0, 1], inv[ok, 1, 0] = -e[ok, 0, 1] / det[ok], -e[ok, 1, 0] / det[ok]
    linear = r @ inv
    offset = rest[:, 0] - np.einsum("mij,mj->mi", linear, p0)
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def person_texture(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA (H, W, 4 uint8) of the person: the mask, its soft edge narrowed to EDGE, as alpha; where the
    mask is below SURE the colour is filled in from the person's inside, so that the old background
    does not move with the person as a fringe."""
    alpha = np.clip((mask - EDGE[0]) / (EDGE[1] - EDGE[0]), 0, 1)
    colour = inpaint(rgb, (mask < SURE).astype(np.uint8))
    return np.dstack([colour, np.round(alpha * 255).astype(np.uint8)])


def fill_background(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the person (mask >= 0.1, grown by 1 % of the image) inpainted."""
    height, width = mask.shape
    grow = max(3, round(0.01 * max(width, height)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)
    hole = cv2.dilate((mask >= 0.1).astype(np.uint8), disc)
    return inpaint(rgb, hole)


def inpaint(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`rgb` with the pixels where `hole` is set filled smoothly, by push-pull: the known pixels are
    averaged down an image pyramid (weighted by how much of each pixel is known) and coarser levels
    fill the holes of finer ones on the way back up."""
    known = (hole == 0).astype(np.float32)
    levels = [(rgb.astype(np.float32) * known[:, :, None], known)]
    while min(levels[-1][1].shape) > 2 and levels[-1][1].min() == 0:
        colour, weight = levels[-1]
        size = (max(1, colour.shape[1] // 2), max(1, colour.shape[0] // 2))
        levels.append((cv2.resize(colour, size, interpolation=cv2.INTER_AREA),
                       cv2.resize(weight, size, interpolation=cv2.INTER_AREA)))
    colour, weight = levels[-1]
    filled = colour / np.maximum(weight, 1e-6)[:, :, None]
    for colour, weight in reversed(levels[:-1]):
        coarse = cv2.resize(filled, (colour.shape[1], colour.shape[0]), interpolation=cv2.INTER_LINEAR)
        w = np.clip(weight, 0, 1)[:, :, None]
        filled = colour / np.maximum(weight, 1e-6)[:, :, None] * w + coarse * (1 - w)
    out = np.where(hole[:, :, None] > 0, filled, rgb)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
