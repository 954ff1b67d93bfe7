"""vidcli.mocap.views: track colours that stand out from the video, a world view framed on the motion."""

from __future__ import annotations

import numpy as np

from vidcli.mocap.views import CANDIDATE_COLOURS, WorldView, _lab, around_person, contrasting_colours
from vidcli.render.camera import Camera, intrinsics, look_at

SHIRT, WALL = (255, 40, 60), (150, 75, 60)  # a red shirt (a candidate colour itself) before a brick wall


def _stick_person(x: float) -> np.ndarray:
    """Joints (7, 3) of a 1.8 m person standing at (x, 0, 4): feet, pelvis, chest, head, hands."""
    return np.array([[x - 0.15, 0, 4], [x + 0.15, 0, 4], [x, 0.9, 4], [x, 1.4, 4], [x, 1.8, 4],
                     [x - 0.4, 1.0, 4], [x + 0.4, 1.0, 4]])


def _scene() -> tuple[np.ndarray, Camera]:
    """A 320x240 frame of the wall with two people in red shirts, seen from 1.2 m up, 4 m away."""
    camera = Camera(intrinsics(320, 240, 60), look_at((0, 1.2, 0), (0, 0.9, 4)), np.array([0, 1.2, 0.0]), 320, 240)
    image = np.broadcast_to(np.array(WALL, np.uint8), (240, 320, 3)).copy()
    for x in (-1.0, 1.0):
        pixels = camera.project(camera.to_camera(_stick_person(x)))
        (left, top), (right, bottom) = pixels.min(axis=0).astype(int), pixels.max(axis=0).astype(int)
        image[top:bottom, left:right] = SHIRT
    return image, camera


def test_colours_stand_out_from_shirt_and_wall_and_from_each_other():
    image, camera = _scene()
    seen = [around_person(image, camera, _stick_person(x)) for x in (-1.0, 1.0)]
    shirt_share = [np.mean(np.all(pixels == SHIRT, axis=1)) for pixels in seen]
    assert all(0.3 < share < 0.8 for share in shirt_share)  # the person and what is around them
    first, second = contrasting_colours(seen)
    assert first != second and SHIRT not in (first, second)
    for chosen in (first, second):
        far_from = np.linalg.norm(_lab(np.array([SHIRT, WALL])) - _lab(np.array([chosen])), axis=1)
        assert far_from.min() > 60  # CIELAB units: plainly another colour
    red_lab = _lab(np.array([SHIRT]))[0]
    nearest_candidate_to_red = np.linalg.norm(_lab(np.array(CANDIDATE_COLOURS)) - red_lab, axis=1)
    assert np.linalg.norm(_lab(np.array([first]))[0] - red_lab) > np.median(nearest_candidate_to_red)


def test_person_out_of_the_picture_gives_no_pixels():
    image, camera = _scene()
    assert around_person(image, camera, _stick_person(40.0)).shape == (0, 3)
    assert contrasting_colours([np.empty((0, 3), np.uint8)])[0] in CANDIDATE_COLOURS


def _pixel_box(view: WorldView, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = view.camera.project(view.camera.to_camera(points))
    return pixels.min(axis=0), pixels.max(axis=0)


def test_world_view_frames_the_motion_whatever_its_extent():
    width, height = 640, 360
    centres, forward = np.zeros((5, 3)) + [0, 1.5, 0], np.array([0, 0, 1.0])
    standing = np.tile([1.0, 0.9, 3.0], (30, 1))
    view = WorldView(standing, centres, forward, width, height)
    low, high = _pixel_box(view, _stick_person(1.0) + [0, 0, -1])
    assert high[1] - low[1] > 0.5 * height  # a person standing still fills half of the view's height

    walk = np.linspace([-5, 0.9, 2], [5, 0.9, 8], 60)
    view = WorldView(walk, centres, forward, width, height)
    for root in walk[[0, -1]]:
        low, high = _pixel_box(view, _stick_person(root[0]) + [0, 0, root[2] - 4])
        assert (low >= 0).all() and (high <= [width, height]).all()  # both ends of a 12 m walk in view
        assert high[1] - low[1] > 0.1 * height
