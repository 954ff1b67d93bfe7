"""Frame rendering: a ray-cast textured static scene, rasterized bodies on top, Lambert shading.

The static scene is a textured ground plane (y = 0) and axis-aligned textured boxes, intersected
exactly per pixel (so the infinite ground needs no clipping); its depth is the background of the
triangle z-buffer in which the body meshes are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vidcli.render.camera import Camera
from vidcli.render.raster import rasterize

LIGHT = np.array([0.35, 0.85, 0.4]) / np.linalg.norm([0.35, 0.85, 0.4])
AMBIENT = 0.45
SHADOW_DARKNESS = 0.45  # share of the ground's light a shadow takes at its centre
SHADOW_MIN_SPREAD_M = 0.15
SKY_TOP, SKY_HORIZON = np.array([110, 150, 205.0]), np.array([200, 215, 230.0])


class Texture:
    """An RGB image tiled over a surface, `texel_m` metres per pixel, with a mip pyramid."""

    def __init__(self, image: np.ndarray, texel_m: float, levels: int = 6):
        self.texel_m = texel_m
        self.levels = [image.astype(np.float32)]
        for _ in range(levels - 1):
            self.levels.append(cv2.pyrDown(self.levels[-1]))

    def sample(self, a: np.ndarray, b: np.ndarray, footprint_m: np.ndarray) -> np.ndarray:
        """Colours (N, 3) at surface coordinates `a`, `b` (metres), choosing the mip level whose
        texel matches each sample's footprint on the surface."""
        level = np.clip(np.floor(np.log2(np.maximum(footprint_m / self.texel_m, 1.0))), 0, len(self.levels) - 1)
        out = np.empty((len(a), 3), np.float32)
        for index in np.unique(level).astype(int):
            image = self.levels[index]
            pick = level == index
            scale = self.texel_m * 2 ** index
            i = np.floor(b[pick] / scale).astype(np.int64) % image.shape[0]
            j = np.floor(a[pick] / scale).astype(np.int64) % image.shape[1]
            out[pick] = image[i, j]
        return out


@dataclass
class Box:
    """An axis-aligned box from `lo` to `hi` (world, metres) covered by `texture`."""

    lo: np.ndarray
    hi: np.ndarray
    texture: Texture


@dataclass
class Scene:
    ground: Texture
    boxes: list[Box] = field(default_factory=list)
    soft_shadows: bool = False  # a blurred dark patch on the ground under each body


@dataclass
class Body:
    """A mesh to rasterize: world `vertices` (V, 3), `faces` (T, 3), RGB `face_colours` (T, 3)."""

    vertices: np.ndarray
    faces: np.ndarray
    face_colours: np.ndarray


@dataclass
class Frame:
    """A rendered frame: `rgb` (H, W, 3) uint8, `depth` (H, W) camera z, `body` (H, W) index of the
    body seen at each pixel (-1: the scene), `face` (H, W) the triangle seen there, indexing the bodies'
    faces in order (-1: the scene)."""

    rgb: np.ndarray
    depth: np.ndarray
    body: np.ndarray
    face: np.ndarray


def render(camera: Camera, scene: Scene, bodies: list[Body],
           background: tuple[np.ndarray, np.ndarray] | None = None) -> Frame:
    """Render `bodies` in `scene` as seen by `camera`; `background` is `raycast(camera, scene)` when
    already known (a static camera sees the same scene in every frame)."""
    colour, depth = (background[0].copy(), background[1]) if background else raycast(camera, scene)
    if scene.soft_shadows and bodies:
        colour *= _shadows(camera, depth, bodies)[..., None]
    body_index = np.full(depth.shape, -1)
    face_index = np.full(depth.shape, -1)
    if bodies:
        offsets = np.cumsum([0] + [len(b.vertices) for b in bodies])
        vertices = np.concatenate([b.vertices for b in bodies]).astype(np.float64)
        faces = np.concatenate([b.faces + o for b, o in zip(bodies, offsets)])
        face_owner = np.concatenate([np.full(len(b.faces), i) for i, b in enumerate(bodies)])
        fragments = rasterize(camera, vertices, faces, depth)
        hit = fragments.face >= 0
        hit_faces = fragments.face[hit]
        tri = vertices[faces[hit_faces]]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
        base = np.concatenate([b.face_colours for b in bodies])[hit_faces]
        colour[hit] = base * _lambert(normals)[:, None]
        depth = fragments.depth
        body_index[hit] = face_owner[hit_faces]
        face_index[hit] = hit_faces
    return Frame(np.clip(colour, 0, 255).astype(np.uint8), depth, body_index, face_index)


def _shadows(camera: Camera, depth: np.ndarray, bodies: list[Body]) -> np.ndarray:
    """Light factor (H, W) of the ground: under each body a Gaussian patch as wide as the body's
    horizontal spread (the soft shadow of a diffuse studio light); 1 elsewhere."""
    factor = np.ones(depth.shape, np.float32)
    ground = np.isfinite(depth)
    points = camera.t_wc + camera.pixel_rays()[ground] * depth[ground, None]
    on_floor = np.abs(points[:, 1]) < 1e-6
    ground[ground] = on_floor
    floor = points[on_floor][:, [0, 2]]
    light = np.ones(len(floor))
    for body in bodies:
        footprint = body.vertices[:, [0, 2]]
        spread = max(float(footprint.std(axis=0).max()), SHADOW_MIN_SPREAD_M)
        distance2 = ((floor - footprint.mean(axis=0)) ** 2).sum(-1)
        light *= 1 - SHADOW_DARKNESS * np.exp(-0.5 * distance2 / spread**2)
    factor[ground] = light
    return factor


def _lambert(normals: np.ndarray) -> np.ndarray:
    return AMBIENT + (1 - AMBIENT) * np.clip(normals @ LIGHT, 0, None)


def raycast(camera: Camera, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Colour (H, W, 3) float and depth (H, W) of the static scene (sky at infinite depth)."""
    rays = camera.pixel_rays().reshape(-1, 3)
    origin = camera.t_wc
    depth = np.full(len(rays), np.inf)
    surface = np.full(len(rays), -1)  # -1 sky, 0 ground, 1 + k box k (axis encoded below)
    axis = np.zeros(len(rays), np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = -origin[1] / rays[:, 1]
    ground = (t_ground > 0) & np.isfinite(t_ground)
    depth[ground], surface[ground], axis[ground] = t_ground[ground], 0, 1
    safe = np.where(np.abs(rays) < 1e-12, 1e-12, rays)
    inverse_rays = [1.0 / safe[:, k] for k in range(3)]
    for k, box in enumerate(scene.boxes):
        t, hit_axis = _slab(origin, inverse_rays, box.lo, box.hi)
        closer = t < depth
        depth[closer], surface[closer], axis[closer] = t[closer], k + 1, hit_axis[closer]

    colour = np.empty((len(rays), 3), np.float32)
    sky = surface < 0
    up = np.clip(rays[sky, 1] / np.linalg.norm(rays[sky], axis=1), 0, 1)[:, None]
    colour[sky] = SKY_HORIZON + (SKY_TOP - SKY_HORIZON) * np.sqrt(up)
    points = origin + rays * depth[:, None]
    footprint = depth / camera.K[0, 0]
    for index in np.unique(surface[~sky]):
        pick = surface == index
        texture = scene.ground if index == 0 else scene.boxes[index - 1].texture
        p, ax = points[pick], axis[pick]
        # Texture coordinates: the two world axes spanning the face the ray hit.
        a = np.where(ax == 0, p[:, 2], p[:, 0])
        b = np.where(ax == 1, p[:, 2], p[:, 1])
        normal = np.zeros_like(p)
        normal[np.arange(len(p)), ax] = -np.sign(rays[pick][np.arange(len(p)), ax])
        cosine = np.abs(np.einsum("ij,ij->i", normal, rays[pick])) / np.linalg.norm(rays[pick], axis=1)
        colour[pick] = texture.sample(a, b, footprint[pick] / np.maximum(cosine, 0.05)) * _lambert(normal)[:, None]
    return colour.reshape(camera.height, camera.width, 3), depth.reshape(camera.height, camera.width)


def _slab(origin: np.ndarray, inverse_rays: list[np.ndarray], lo: np.ndarray, hi: np.ndarray):
    """Entry distance along each ray into the box (inf if missed) and the axis of the face entered.

    `inverse_rays` holds 1 / (each ray's x, y and z), with no zero components (column arrays, as
    reductions over a length-3 axis are slow in numpy)."""
    near_axis, entry, exit_ = None, None, None
    for k in range(3):
        t1 = (lo[k] - origin[k]) * inverse_rays[k]
        t2 = (hi[k] - origin[k]) * inverse_rays[k]
        near, far = np.minimum(t1, t2), np.maximum(t1, t2)
        if entry is None:
            entry, exit_, near_axis = near, far, np.zeros(len(near), np.int64)
        else:
            later = near > entry
            entry = np.where(later, near, entry)
            near_axis[later] = k
            exit_ = np.minimum(exit_, far)
    hit = (entry <= exit_) & (entry > 0)
    return np.where(hit, entry, np.inf), near_axis
