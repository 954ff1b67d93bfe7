"""Moving-MNIST-style sequences (Srivastava et al. 2015): handwriting-like digits bouncing in a square.

Digits are drawn with OpenCV's Hershey fonts (six faces, random thickness, size, slant and blur) on a
28 x 28 patch, so no data set is downloaded. Each digit starts at a random place with a random direction
and speed and bounces off the edges; overlapping digits combine by their maximum, as in Moving MNIST.
Sequence i depends only on (seed, i).
"""

from __future__ import annotations

import cv2
import numpy as np

PATCH = 28
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)


def render_digit(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A 28 x 28 float32 image in [0, 1] of `digit` in a random face, stroke, size and slant."""
    font = FONTS[rng.integers(len(FONTS))]
    thickness = int(rng.integers(2, 5))
    canvas = np.zeros((2 * PATCH, 2 * PATCH), np.uint8)
    scale = 1.0
    (w, h), base = cv2.getTextSize(str(digit), font, scale, thickness)
    scale *= rng.uniform(0.75, 0.95) * PATCH / max(w, h + base)
    (w, h), base = cv2.getTextSize(str(digit), font, scale, thickness)
    origin = (PATCH - w // 2, PATCH + h // 2)
    cv2.putText(canvas, str(digit), origin, font, scale, 255, thickness, cv2.LINE_AA)
    slant = rng.uniform(-0.25, 0.25)
    angle = np.deg2rad(rng.uniform(-12, 12))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.array([[1.0, slant], [0.0, 1.0]])
    centre = np.array([PATCH, PATCH], np.float64)
    target = np.array([PATCH / 2, PATCH / 2])
    affine = np.hstack([linear, (target - linear @ centre)[:, None]])
    patch = cv2.warpAffine(canvas, affine, (PATCH, PATCH), flags=cv2.INTER_LINEAR)
    patch = cv2.GaussianBlur(patch, (3, 3), 0.6)
    return patch.astype(np.float32) / 255.0


def moving_digits(seed: int, index: int, length: int = 20, size: int = 64, digits: int = 2) -> np.ndarray:
    """Sequence `index` of the stream `seed`: (length, 1, size, size) float32 in [0, 1]."""
    rng = np.random.default_rng([seed, index])
    frames = np.zeros((length, size, size), np.float32)
    room = size - PATCH
    for _ in range(digits):
        patch = render_digit(int(rng.integers(10)), rng)
        position = rng.uniform(0, room, 2)
        angle = rng.uniform(0, 2 * np.pi)
        velocity = rng.uniform(2.0, 4.0) * np.array([np.sin(angle), np.cos(angle)])
        for t in range(length):
            y, x = np.round(position).astype(int)
            np.maximum(frames[t, y:y + PATCH, x:x + PATCH], patch, out=frames[t, y:y + PATCH, x:x + PATCH])
            position = position + velocity
            for axis in range(2):  # bounce: reflect the position and the velocity at the walls
                if position[axis] < 0:
                    position[axis], velocity[axis] = -position[axis], -velocity[axis]
                elif position[axis] > room:
                    position[axis], velocity[axis] = 2 * room - position[axis], -velocity[axis]
            position = np.clip(position, 0, room)  # a frame barely wider than a digit
    return frames[:, None]
