"""vidcli.render.raster against a pixel-by-pixel reference, and the overlay's blending of covered pixels."""

from __future__ import annotations

import numpy as np

from vidcli.mocap.views import Mesh, draw_bodies
from vidcli.render.camera import Camera, intrinsics, look_at
from vidcli.render.raster import rasterize

WIDTH, HEIGHT = 64, 48


def _camera() -> Camera:
    return Camera(intrinsics(WIDTH, HEIGHT, 60), look_at((0, 0, 0), (0, 0, 1)), np.zeros(3), WIDTH, HEIGHT)


def _triangles(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random triangles 2-4 m in front of the camera, some overlapping, some facing away."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([-0.8, -0.6, 2.0], [0.8, 0.6, 4.0], (12, 1, 3))
    vertices = (centres + rng.normal(0, 0.6, (12, 3, 3))).reshape(-1, 3)
    return vertices, np.arange(len(vertices)).reshape(-1, 3)


def _reference(camera: Camera, vertices: np.ndarray, faces: np.ndarray, background: np.ndarray):
    """Every pixel centre tested against one front-facing triangle at a time; the nearest
    perspective-correct depth wins."""
    cam = camera.to_camera(vertices)
    uv = camera.project(cam)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    depth, face = background.copy(), np.full(background.shape, -1)

    def cross(p, q, x, y):  # (q - p) x ((x, y) - p)
        return (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])

    for t, (i, j, k) in enumerate(faces):
        a, b, c = uv[i], uv[j], uv[k]
        area = cross(a, b, *c)
        if area >= 0:  # facing away (anticlockwise in the image is towards the camera)
            continue
        w0, w1 = cross(b, c, xs, ys) / area, cross(c, a, xs, ys) / area
        w2 = 1 - w0 - w1
        z = 1 / (w0 / cam[i, 2] + w1 / cam[j, 2] + w2 / cam[k, 2])
        nearer = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (z < depth)
        depth[nearer], face[nearer] = z[nearer], t
    return depth, face


def test_rasterize_matches_the_pixel_by_pixel_reference_in_and_outside_its_box():
    camera = _camera()
    for seed in range(3):
        vertices, faces = _triangles(seed)
        background = np.full((HEIGHT, WIDTH), 3.0)
        background[:, : WIDTH // 2] = np.inf  # a wall at 3 m on the right half hides what is behind it
        fragments = rasterize(camera, vertices, faces, background)
        depth, face = _reference(camera, vertices, faces, background)
        assert (face >= 0).sum() > 100 and (fragments.face == face).all()
        np.testing.assert_allclose(fragments.depth, depth, rtol=1e-6)  # float32 depths
        rows, columns, covered = fragments.covered()
        assert (np.stack([rows, columns]) == np.nonzero(face >= 0)).all() and (covered == face[face >= 0]).all()
    nothing = rasterize(camera, vertices + [0, 0, -10], faces, background)  # all behind the camera
    assert (nothing.face == -1).all() and (nothing.depth == background).all()
    assert all(len(part) == 0 for part in nothing.covered())


def test_draw_bodies_blends_only_the_covered_pixels_in_each_mesh_colour():
    camera = _camera()
    vertices, faces = _triangles(0)
    image = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    first, second = Mesh(vertices[:18], faces[:6], (255, 0, 0)), Mesh(vertices[18:], faces[:6], (0, 0, 255))
    out = draw_bodies(image, camera, [first, second], alpha=0.5)
    face = rasterize(camera, vertices, faces, np.full((HEIGHT, WIDTH), np.inf)).face
    assert (out[face < 0] == image[face < 0]).all()
    for mesh, mine, others in ((first, face // 6 == 0, 2), (second, face // 6 == 1, 0)):
        covered = mine & (face >= 0)
        assert covered.sum() > 20
        expected_max = 0.5 * image[covered].astype(float) + 0.5 * np.array(mesh.colour)  # fully lit at most
        assert (out[covered] <= np.ceil(expected_max)).all()
        assert (out[covered][:, others] <= image[covered][:, others] * 0.5 + 1).all()  # only its own hue added
    assert draw_bodies(image, camera, [], alpha=0.5) is image
