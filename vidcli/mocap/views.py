"""Pictures of the world motion: bodies over the video frames, a 3D world view, a top-down plot.

Bodies are the body model's meshes, rasterized with `vidcli.render.raster` and Lambert-shaded in one
colour per track. The world view looks at the people from above and behind the first camera: a 1 m
ground grid, the camera's path and its current position, the bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidcli.render.camera import Camera, look_at
from vidcli.render.raster import rasterize
from vidcli.render.scene import AMBIENT, LIGHT

PALETTE = [(230, 80, 60), (60, 130, 230), (80, 190, 90), (240, 180, 40), (170, 90, 210), (60, 200, 200),
           (240, 120, 180), (140, 140, 140)]
OVERLAY_ALPHA = 0.65
_BACKGROUND_TOP, _BACKGROUND_BOTTOM = np.array([235, 238, 242.0]), np.array([200, 205, 212.0])
_GRID_COLOUR, _PATH_COLOUR = (150, 155, 165), (30, 30, 30)


def colour(index: int) -> tuple[int, int, int]:
    """The colour of the index-th track (by sorted track id)."""
    return PALETTE[index % len(PALETTE)]


@dataclass
class Mesh:
    """One body to draw: world `vertices` (V, 3), `faces` (T, 3), RGB `colour`."""

    vertices: np.ndarray
    faces: np.ndarray
    colour: tuple[int, int, int]


def draw_bodies(image: np.ndarray, camera: Camera, meshes: list[Mesh], alpha: float) -> np.ndarray:
    """`image` (H, W, 3) uint8 with the meshes rasterized over it, blended by `alpha`."""
    if not meshes:
        return image
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
    vertices = np.concatenate([m.vertices for m in meshes]).astype(np.float64)
    faces = np.concatenate([m.faces + o for m, o in zip(meshes, offsets)])
    colours = np.concatenate([np.tile(np.array(m.colour, float), (len(m.faces), 1)) for m in meshes])
    fragments = rasterize(camera, vertices, faces, np.full((camera.height, camera.width), np.inf))
    hit = fragments.face >= 0
    triangles = vertices[faces[fragments.face[hit]]]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    shade = AMBIENT + (1 - AMBIENT) * np.clip(normals @ LIGHT, 0, None)
    out = image.astype(np.float32)
    out[hit] = (1 - alpha) * out[hit] + alpha * colours[fragments.face[hit]] * shade[:, None]
    return np.clip(out, 0, 255).astype(np.uint8)


class WorldView:
    """A fixed virtual camera behind and above the first camera, looking at the people (`roots`, the
    pelvis positions they pass) from there; the camera path and a ground grid around them."""

    def __init__(self, roots: np.ndarray, camera_centres: np.ndarray, camera_forward: np.ndarray,
                 width: int, height: int):
        target = np.array([roots[:, 0].mean(), 0.9, roots[:, 2].mean()])
        start = camera_centres[0]
        towards = np.array([target[0] - start[0], 0.0, target[2] - start[2]])
        distance = float(np.linalg.norm(towards))
        if distance < 1e-6:
            towards = np.array([camera_forward[0], 0.0, camera_forward[2]])
        towards /= np.linalg.norm(towards)
        reach = distance + float(np.ptp(roots[:, [0, 2]], axis=0).max())
        eye = np.array([start[0], 0.5 * reach + 2.0, start[2]]) - towards * (0.4 * reach + 2.0)
        f = 0.8 * width
        K = np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
        self.camera = Camera(K, look_at(eye, target), eye, width, height)
        points = np.concatenate([roots, camera_centres])
        low, high = np.floor(points.min(axis=0)) - 3, np.ceil(points.max(axis=0)) + 3
        grid = [np.array([[x, 0.0, low[2]], [x, 0.0, high[2]]]) for x in np.arange(low[0], high[0] + 1)]
        grid += [np.array([[low[0], 0.0, z], [high[0], 0.0, z]]) for z in np.arange(low[2], high[2] + 1)]
        ramp = np.linspace(0.0, 1.0, height)[:, None, None]
        gradient = (_BACKGROUND_TOP + (_BACKGROUND_BOTTOM - _BACKGROUND_TOP) * ramp).astype(np.uint8)
        self._background = np.ascontiguousarray(np.broadcast_to(gradient, (height, width, 3)))
        for line in grid:
            self._polyline(self._background, line, _GRID_COLOUR, 1, samples=40)
        self._polyline(self._background, camera_centres, _PATH_COLOUR, 1, samples=0)

    def render(self, meshes: list[Mesh], R_wc: np.ndarray, t_wc: np.ndarray) -> np.ndarray:
        """The view with the bodies and the camera at (R_wc, t_wc)."""
        image = draw_bodies(self._background.copy(), self.camera, meshes, alpha=1.0)
        size = 0.25
        corners = [t_wc + R_wc @ np.array([x * size, y * size * 0.6, size])
                   for x, y in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        for corner in corners:
            self._polyline(image, np.stack([t_wc, corner]), _PATH_COLOUR, 1, samples=0)
        self._polyline(image, np.stack(corners + corners[:1]), _PATH_COLOUR, 1, samples=0)
        return image

    def _polyline(self, image: np.ndarray, points: np.ndarray, colour, thickness: int, samples: int) -> None:
        """Draw world points joined by straight segments (subdivided into `samples` pieces so that the
        parts behind the camera can be left out)."""
        if samples:
            s = np.linspace(0.0, 1.0, samples + 1)[:, None]
            points = points[0] + s * (points[1] - points[0])
        cam = self.camera.to_camera(points)
        front = cam[:, 2] > 0.1
        pixels = self.camera.project(np.where(front[:, None], cam, 1.0))
        for start, end, ok in zip(pixels[:-1], pixels[1:], front[:-1] & front[1:]):
            if ok:
                cv2.line(image, tuple(int(v) for v in start), tuple(int(v) for v in end), colour, thickness,
                         cv2.LINE_AA)


def trajectory_plot(path, tracks: dict[int, np.ndarray], camera_centres: np.ndarray) -> None:
    """A top-down (x, z) PNG of each track's pelvis path (coloured, start marked) and the camera path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 6), dpi=100)
    axes.plot(camera_centres[:, 0], camera_centres[:, 2], "k--", linewidth=1, label="camera")
    axes.plot(camera_centres[:1, 0], camera_centres[:1, 2], "k^")
    for index, (track_id, roots) in enumerate(sorted(tracks.items())):
        rgb = np.array(colour(index)) / 255
        axes.plot(roots[:, 0], roots[:, 2], ".", color=rgb, markersize=2, label=f"person {track_id}")
        axes.plot(roots[:1, 0], roots[:1, 2], "o", color=rgb)
    axes.set_xlabel("x (m)")
    axes.set_ylabel("z (m)")
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(True, linewidth=0.3)
    axes.legend(loc="best", fontsize=8)
    axes.set_title("top view: pelvis paths (dot: start)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
