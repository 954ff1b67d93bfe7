"""Pictures of the world motion: bodies over the video frames, a 3D world view, a top-down plot.

Bodies are the body model's meshes, rasterized with `vidcli.render.raster` and Lambert-shaded in one
colour per track, picked to stand out from what the track's person looks like in the video (their
clothes, the wall behind them). The world view looks at the people from above and behind the first
camera, as close as their whole motion allows: a dark 1 m ground grid, the camera's path and its
current position, the bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidcli.render.camera import Camera, look_at
from vidcli.render.raster import rasterize
from vidcli.render.scene import AMBIENT, LIGHT

# Vivid colours that tracks are given from, each far from the others.
CANDIDATE_COLOURS = [(255, 50, 200), (0, 225, 255), (255, 225, 0), (70, 255, 70), (255, 120, 0),
                     (150, 90, 255), (0, 120, 255), (255, 40, 60), (0, 200, 140), (200, 255, 120)]
OVERLAY_ALPHA = 0.7
_BACKGROUND_TOP, _BACKGROUND_BOTTOM = np.array([38, 42, 50.0]), np.array([72, 78, 90.0])
_GRID_COLOUR, _PATH_COLOUR = (110, 116, 128), (235, 235, 235)
_BODY_BOX = ((-0.5, 0.0, -0.5), (0.5, 1.9, 0.5))  # around a pelvis path: a body's reach, feet to head (m)
_VIEW_PITCH_DEG = 25.0  # the world view looks down this much
_VIEW_FILL = 0.85  # fraction of the world view's width and height that the people's motion may take
MESH_CHUNK = 64  # frames of body meshes posed at once for the overlay video
# x264's preset and quality for the overlay video: a quarter of "medium" at CRF 18's CPU time for 0.4 dB less
# (docs/mocap.md "Speed")
OVERLAY_PRESET, OVERLAY_CRF = "superfast", 22


def around_person(image: np.ndarray, camera: Camera, joints: np.ndarray, samples: int = 24) -> np.ndarray:
    """RGB pixels (M, 3) on a `samples` x `samples` grid over the person whose world `joints` (J, 3) are
    given: their box in the image, widened by a quarter each side to take in what is behind them."""
    cam = camera.to_camera(joints)
    if (cam[:, 2] <= 0.1).any():
        return np.empty((0, 3), np.uint8)
    pixels = camera.project(cam)
    low, high = pixels.min(axis=0), pixels.max(axis=0)
    margin = 0.25 * (high - low)
    low, high = np.maximum(low - margin, 0), np.minimum(high + margin, [camera.width - 1, camera.height - 1])
    if (high <= low).any():
        return np.empty((0, 3), np.uint8)
    xs, ys = (np.linspace(low[i], high[i], samples).astype(int) for i in (0, 1))
    return image[ys[:, None], xs[None, :]].reshape(-1, 3)


def contrasting_colours(pixels_per_track: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """One of `CANDIDATE_COLOURS` per track, in order: the one whose distance (`_lab`) to the track's
    `around_person` pixels is largest for the nearest quarter of them (so neither a shirt nor a wall
    of that colour hides the body), and no nearer to an earlier track's colour than that."""
    candidates = _lab(np.array(CANDIDATE_COLOURS))
    chosen: list[int] = []
    for pixels in pixels_per_track:
        if len(pixels):
            distances = np.linalg.norm(_lab(pixels)[:, None] - candidates[None], axis=2)
            score = np.percentile(distances, 25, axis=0)
        else:
            score = np.full(len(candidates), 100.0)
        if chosen:
            apart = np.linalg.norm(candidates[:, None] - candidates[chosen][None], axis=2).min(axis=1)
            score = np.minimum(score, apart)
        chosen.append(int(np.argmax(score)))
    return [CANDIDATE_COLOURS[i] for i in chosen]


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (N, 3) of RGB colours (N, 3) in 0-255, lightness halved: a body blended over the frame
    stands out by its hue more than by its brightness (orange over a dark brick wall does not)."""
    scaled = (np.asarray(rgb, np.float32) / 255).reshape(-1, 1, 3)
    return cv2.cvtColor(scaled, cv2.COLOR_RGB2LAB).reshape(-1, 3) * np.float32([0.5, 1, 1])


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
    first_faces = np.cumsum([0] + [len(m.faces) for m in meshes[:-1]])
    fragments = rasterize(camera, vertices, faces, np.broadcast_to(np.inf, (camera.height, camera.width)))
    rows, columns, face = fragments.covered()
    triangles = vertices[faces[face]]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    shade = AMBIENT + (1 - AMBIENT) * np.clip(normals @ LIGHT, 0, None)
    owner = np.searchsorted(first_faces, face, side="right") - 1
    colours = np.array([m.colour for m in meshes], float)[owner]
    # Only the covered pixels change, so only they are blended (in float32, then clipped and truncated).
    blended = (1 - alpha) * image[rows, columns].astype(np.float32) + alpha * colours * shade[:, None]
    out = image.copy()
    out[rows, columns] = np.clip(blended.astype(np.float32), 0, 255).astype(np.uint8)
    return out


class WorldView:
    """A fixed virtual camera behind and above the first camera, looking down at the people (`roots`,
    the pelvis positions they pass) from as near as fits all of their motion in the picture; the
    camera path and a ground grid around them."""

    def __init__(self, roots: np.ndarray, camera_centres: np.ndarray, camera_forward: np.ndarray,
                 width: int, height: int):
        low, high = roots.min(axis=0) + _BODY_BOX[0], roots.max(axis=0) + _BODY_BOX[1]
        low[1], high[1] = _BODY_BOX[0][1], _BODY_BOX[1][1]
        target = (low + high) / 2
        start = camera_centres[0]
        towards = np.array([target[0] - start[0], 0.0, target[2] - start[2]])
        if np.linalg.norm(towards) < 1e-6:
            towards = np.array([camera_forward[0], 0.0, camera_forward[2]])
        towards /= np.linalg.norm(towards)
        pitch = np.radians(_VIEW_PITCH_DEG)
        backwards = -towards * np.cos(pitch) + np.array([0.0, np.sin(pitch), 0.0])
        f = 0.8 * width
        R_wc = look_at(target + backwards, target)
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                            for z in (low[2], high[2])])
        distance = _fitting_distance((corners - target) @ R_wc, f, _VIEW_FILL * width / 2,
                                     _VIEW_FILL * height / 2)
        eye = target + distance * backwards
        K = np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
        self.camera = Camera(K, R_wc, eye, width, height)
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


def _fitting_distance(offsets: np.ndarray, f: float, half_width: float, half_height: float) -> float:
    """How far back along its axis a camera of focal `f` must stand for points at camera-axis `offsets`
    (N, 3) from its target to project within `half_width` x `half_height` pixels of the image centre."""
    x, y, z = np.abs(offsets[:, 0]), np.abs(offsets[:, 1]), offsets[:, 2]
    return float(max((f * x / half_width - z).max(), (f * y / half_height - z).max(), (0.5 - z).max()))


def track_colours(frames, camera, motion, track_ids: list[int], looks: int = 6) -> list[tuple[int, int, int]]:
    """A colour per track (in `track_ids` order) that stands out from the track's person and surroundings
    in `looks` frames spread over the track."""
    width, height = frames.size
    pixels = []
    for track_id in track_ids:
        rows = np.flatnonzero(motion.track_id == track_id)
        seen = []
        for row in rows[np.linspace(0, len(rows) - 1, min(looks, len(rows))).astype(int)]:
            frame = int(motion.frame[row])
            shot = Camera(camera.K, camera.R_wc[frame], camera.t_wc[frame], width, height)
            seen.append(around_person(frames.read(frame), shot, motion.joints_world[row]))
        pixels.append(np.concatenate(seen))
    return contrasting_colours(pixels)


def overlay_video(path: Path, frames, camera, model, motion, segments, colours, video_size: int) -> None:
    """Bodies over each frame (left) beside the world view (right), each half the frames' size or at most
    `video_size` on its longest side. `segments`: (track id, track index, file stem, motion rows) per
    gap-free piece of a track; `colours` by track index."""
    from vidcli.console import progress
    from vidcli.io.frames import ReadAhead
    from vidcli.io.video import VideoWriter, scaled_size

    width, height = scaled_size(*frames.size, video_size)
    scale = np.diag([width / frames.size[0], height / frames.size[1], 1.0])
    K = scale @ camera.K
    view = WorldView(motion.root_world, camera.t_wc, camera.R_wc[0][:, 2], width, height)
    cache: dict[tuple[int, int], np.ndarray] = {}

    def meshes_at(frame: int) -> list:
        out = []
        for position, (_, index, _, r) in enumerate(segments):
            offset = frame - motion.frame[r[0]]
            if not 0 <= offset < len(r):
                continue
            chunk = offset // MESH_CHUNK
            if (position, chunk) not in cache:
                for key in [key for key in cache if key[0] == position]:
                    del cache[key]
                rows = r[chunk * MESH_CHUNK:(chunk + 1) * MESH_CHUNK]
                cache[position, chunk] = model.mesh(motion.shape[r[0]], motion.rotations[rows],
                                                    motion.root_world[rows])
            out.append(Mesh(cache[position, chunk][offset % MESH_CHUNK], model.faces, colours[index]))
        return out

    writer = VideoWriter(path, frames.fps, (2 * width, height), crf=OVERLAY_CRF, preset=OVERLAY_PRESET)
    read = ReadAhead(lambda frame: frames.read_resized(frame, (width, height)), len(frames))
    with writer, read, progress("export video", len(frames)) as bar:
        for frame in range(len(frames)):
            meshes = meshes_at(frame)
            image = read(frame)
            shot = Camera(K, camera.R_wc[frame], camera.t_wc[frame], width, height)
            left = draw_bodies(image, shot, meshes, OVERLAY_ALPHA)
            right = view.render(meshes, camera.R_wc[frame], camera.t_wc[frame])
            writer.write(np.concatenate([left, right], axis=1))
            bar.advance()


def trajectory_plot(path, tracks: dict[int, np.ndarray], camera_centres: np.ndarray,
                    colours: list[tuple[int, int, int]]) -> None:
    """A top-down (x, z) PNG of each track's pelvis path (in `colours`, by sorted track id; start
    marked) and the camera path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 6), dpi=100)
    axes.plot(camera_centres[:, 0], camera_centres[:, 2], "k--", linewidth=1, label="camera")
    axes.plot(camera_centres[:1, 0], camera_centres[:1, 2], "k^")
    for index, (track_id, roots) in enumerate(sorted(tracks.items())):
        rgb = np.array(colours[index]) / 255
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
