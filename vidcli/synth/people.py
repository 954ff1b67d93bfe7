"""Synthetic people: seeded phenotypes and clothing colours, motion from BVH clips or the
procedural walk, placed on paths that cross the walking area (so they occlude each other and
enter or leave the frame)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli import bvh
from vidcli.body.anny_model import AnnyBody, Phenotype
from vidcli.body.retarget import retarget
from vidcli.bvh import axis_rotation
from vidcli.errors import InputError
from vidcli.synth.walk import procedural_walk

SHIRTS = [(200, 55, 45), (45, 95, 200), (55, 160, 70)]
TROUSERS = [(45, 45, 65), (150, 125, 85), (95, 95, 100)]
SKINS = [(225, 185, 160), (160, 115, 85), (240, 205, 180), (110, 75, 55)]
SHOES = (35, 30, 30)
_SKIN_BONES = {"Head", "Neck1", "LeftHand", "LThumb", "LeftFingerBase", "LeftHandFinger1",
               "RightHand", "RThumb", "RightFingerBase", "RightHandFinger1"}
_TROUSER_BONES = {"Hips", "LHipJoint", "RHipJoint", "LeftUpLeg", "LeftLeg", "RightUpLeg", "RightLeg"}
_SHOE_BONES = {"LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"}
_FOREARMS = {"LeftForeArm", "RightForeArm"}
_GROUND_QUANTILE = 0.2  # the lowest vertex touches the ground in at least this share of frames


@dataclass
class Person:
    """One animated person: `vertices` (F, V, 3) and bone `heads` (F, B, 3) in the world."""

    track_id: int
    phenotype: Phenotype
    shirt: tuple[int, int, int]
    source: str | None  # BVH path, None for the procedural walk
    vertices: np.ndarray
    heads: np.ndarray
    face_colours: np.ndarray


def random_phenotype(rng: np.random.Generator, overrides: dict[str, float]) -> Phenotype:
    """A plausible adult phenotype (Anny parameters), with `overrides` taking precedence."""
    drawn = {"height": rng.uniform(0.3, 0.8), "weight": rng.uniform(0.25, 0.75),
             "age": rng.uniform(0.3, 0.6), "gender": float(rng.uniform() < 0.5)}
    drawn.update(overrides)
    return Phenotype(**drawn)


def make_people(body: AnnyBody, count: int, clips: list[Path], frames: int, fps: float,
                rng: np.random.Generator, overrides: dict[str, float]) -> list[Person]:
    """`count` people over `frames` frames; person i plays clips[i % len(clips)] (procedural walk
    when `clips` is empty)."""
    motions = [bvh.parse(path) for path in clips]
    people = []
    for index in range(count):
        track_id = index + 1
        phenotype = random_phenotype(rng, overrides)
        rest = body.rest(phenotype)
        if motions:
            source = str(clips[index % len(clips)])
            motion = motions[index % len(motions)]
        else:
            source = None
            motion = procedural_walk(frames / fps, fps, cadence_hz=rng.uniform(0.85, 1.0),
                                     phase=rng.uniform(0, 2 * np.pi))
        try:
            rotations, root = retarget(motion, rest, body.bone_names, body.parents)
        except InputError as error:
            raise InputError(f"{source}: {error}") from None
        rotations, root = _resample(rotations, root, motion.fps, frames, fps)
        rotations, root = _place(rotations, root, index, count, rng)
        vertices, heads = body.pose(rest, rotations, root)
        lift = -np.quantile(vertices[..., 1].min(axis=1), _GROUND_QUANTILE)
        vertices[..., 1] += lift
        heads[..., 1] += lift
        shirt = SHIRTS[index % len(SHIRTS)]
        colours = _face_colours(body, rest.vertices, shirt, TROUSERS[index % len(TROUSERS)],
                                SKINS[int(rng.integers(len(SKINS)))], striped=bool(rng.uniform() < 0.5),
                                sleeves=bool(rng.uniform() < 0.5), rng=rng)
        people.append(Person(track_id, phenotype, shirt, source, vertices, heads, colours))
    return people


def _resample(rotations: np.ndarray, root: np.ndarray, clip_fps: float, frames: int, fps: float):
    """The clip at the video's frame times (nearest clip frame). A clip shorter than the video is
    looped between the two frames of most similar pose (`loop_span`), with the root's horizontal
    displacement carried over from loop to loop, so the body never jumps at the seam."""
    source = np.floor(np.arange(frames) / fps * clip_fps + 1e-6).astype(int)
    if source[-1] < len(rotations):
        return rotations[source], root[source]
    first, end = loop_span(rotations)
    loops, offset = np.divmod(source, end - first)
    source = first + offset
    step = root[end] - root[first]
    step[1] = 0.0
    return rotations[source], root[source] + loops[:, None] * step


def loop_span(rotations: np.ndarray, context: int = 3) -> tuple[int, int]:
    """(first, end): the clip frames [first, end) that loop best, `end` being the frame whose pose
    (bone rotations relative to the root, and the root's tilt) and its next `context` frames best
    match those of `first`. `first` lies in the first quarter (which skips a leading T-pose frame)
    and the loop spans at least half the clip."""
    count = len(rotations)
    relative = np.swapaxes(rotations[:, :1], -1, -2) @ rotations  # (F, B, 3, 3): heading-free pose
    features = np.concatenate([relative.reshape(count, -1), rotations[:, 0, :, 1]], axis=1)
    best, span = np.inf, (0, count)
    for first in range(count // 4):
        for end in range(first + count // 2, count - context):
            cost = ((features[end:end + context] - features[first:first + context]) ** 2).sum()
            if cost < best:
                best, span = cost, (first, end)
    return span


def _place(rotations: np.ndarray, root: np.ndarray, index: int, count: int, rng: np.random.Generator):
    """Turn and move the clip so that its middle lies near the scene centre on a crossing path."""
    heading = np.array([np.pi / 2, -np.pi / 2, np.pi / 5])[index % 3] + rng.uniform(-0.35, 0.35)
    travel = root[-1] - root[0]
    clip_heading = np.arctan2(travel[0], travel[2]) if np.hypot(travel[0], travel[2]) > 0.5 else 0.0
    turn = axis_rotation(1, heading - clip_heading)
    middle = root[len(root) // 2].copy()
    middle[1] = 0.0
    spot = np.array([rng.uniform(-0.8, 0.8), 0.0, (index - (count - 1) / 2) * 1.6 + rng.uniform(-0.3, 0.3)])
    return turn @ rotations, (root - middle) @ turn.T + spot


def _face_colours(body: AnnyBody, rest_vertices: np.ndarray, shirt, trousers, skin, striped: bool,
                  sleeves: bool, rng: np.random.Generator) -> np.ndarray:
    """Per-face RGB: skin, shirt (optionally striped, with or without long sleeves), trousers, shoes,
    by the most weighted bone of each face's first vertex, with slight per-face variation."""
    names = np.array(body.bone_names)[body.vertex_bone[body.faces[:, 0]]]
    colours = np.tile(np.array(shirt, float), (len(names), 1))
    if striped:
        height = rest_vertices[body.faces[:, 0], 1]
        colours *= np.where(np.sin(height * 60) > 0, 1.0, 0.7)[:, None]
    skin_bones = _SKIN_BONES | (set() if sleeves else _FOREARMS)
    colours[np.isin(names, list(skin_bones))] = skin
    colours[np.isin(names, list(_TROUSER_BONES))] = trousers
    colours[np.isin(names, list(_SHOE_BONES))] = SHOES
    return colours * rng.uniform(0.94, 1.06, (len(names), 1))
