"""Every CMU BVH conversion naming (MotionBuilder, 3ds Max, Daz; with and without finger joints) drives
`vidcli synth`, its limbs pointing where the file's do; other skeletons of the CMU layout too."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SHARED_DATA, vidcli

from vidcli import bvh
from vidcli.synth.walk import procedural_walk

FINGERS = {"LeftFingerBase", "LeftHandIndex1", "LThumb", "RightFingerBase", "RightHandIndex1", "RThumb"}
_MAX = {"LowerBack": "lowerback", "Spine": "Chest", "Spine1": "Chest2", "Neck": "lowerneck", "Neck1": "Neck",
        "LeftFingerBase": "lhand", "RightFingerBase": "rhand", "LeftHandIndex1": "LFingers",
        "RightHandIndex1": "RFingers",
        **{f"{side}{mb}": f"{side}{mx}" for side in ("Left", "Right") for mb, mx in (
            ("UpLeg", "Hip"), ("Leg", "Knee"), ("Foot", "Ankle"), ("ToeBase", "Toe"), ("Shoulder", "Collar"),
            ("Arm", "Shoulder"), ("ForeArm", "Elbow"), ("Hand", "Wrist"))}}
_DAZ = {"Hips": "hip", "LowerBack": "abdomen", "Spine1": "chest", "Neck": "neck", "Head": "head",
        "LHipJoint": "lButtock", "RHipJoint": "rButtock", "LThumb": "lThumb1", "RThumb": "rThumb1",
        **{f"{side}{mb}": f"{side[0].lower()}{daz}" for side in ("Left", "Right") for mb, daz in (
            ("UpLeg", "Thigh"), ("Leg", "Shin"), ("Foot", "Foot"), ("Shoulder", "Collar"), ("Arm", "Shldr"),
            ("ForeArm", "ForeArm"), ("Hand", "Hand"), ("FingerBase", "Mid1"), ("HandIndex1", "Mid2"))}}
_DAZ_LACKS = {"Spine", "Neck1", "LeftToeBase", "RightToeBase"}  # Daz's CMU skeleton has no such joints
# naming -> (MotionBuilder name -> the naming's name, MotionBuilder joints the file lacks)
NAMINGS = {
    "motionbuilder": ({}, set()),
    "motionbuilder LFingers": ({"LeftHandIndex1": "LFingers", "RightHandIndex1": "RFingers"}, set()),
    "motionbuilder no fingers": ({}, FINGERS),
    "3ds max": (_MAX, set()),
    "3ds max no fingers": (_MAX, FINGERS),
    "daz": (_DAZ, _DAZ_LACKS),
    "daz no fingers": (_DAZ, _DAZ_LACKS | FINGERS),
}
BENT = {"LeftLeg": ("Xrotation", 70.0), "RightArm": ("Zrotation", 50.0), "LeftForeArm": ("Yrotation", -60.0),
        "Hips": ("Yrotation", 30.0)}
LIMBS = [(f"{side}{a}", f"{side}{b}") for side in ("Left", "Right")
         for a, b in (("UpLeg", "Leg"), ("Leg", "Foot"), ("Arm", "ForeArm"), ("ForeArm", "Hand"))]


def cmu_skeleton_in(naming: str) -> bvh.Motion:
    """A two-frame CMU skeleton (a T-pose, then a bent knee, arm and elbow and a turn) in `naming`: its joints
    renamed, and those it lacks dropped (children keep their rest positions)."""
    names, lacks = NAMINGS[naming]
    source = procedural_walk(0.1, 10)
    kept = [j for j, name in enumerate(source.names) if name not in lacks]
    rest = np.zeros_like(source.offsets)
    for j, parent in enumerate(source.parents):
        rest[j] = source.offsets[j] + (rest[parent] if parent >= 0 else 0.0)

    def kept_ancestor(joint: int) -> int:
        parent = source.parents[joint]
        while parent >= 0 and parent not in kept:
            parent = source.parents[parent]
        return parent

    parents = [kept.index(kept_ancestor(j)) if kept_ancestor(j) >= 0 else -1 for j in kept]
    offsets = np.array([rest[j] - (rest[kept_ancestor(j)] if kept_ancestor(j) >= 0 else 0.0) for j in kept])
    end_sites = [source.end_sites[j] for j in kept]
    for j in range(len(source.names)):  # a dropped leaf becomes its parent's end site
        if j not in kept and not source.children(j) and kept_ancestor(j) >= 0:
            end_sites[kept.index(kept_ancestor(j))] = rest[j] - rest[kept_ancestor(j)]
    channels = [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]] + [
        ["Zrotation", "Xrotation", "Yrotation"]] * (len(kept) - 1)
    values = np.zeros((2, sum(len(c) for c in channels)))
    values[:, 1] = rest[source.index("Hips"), 1]
    kept_names = [source.names[j] for j in kept]
    for name, (channel, angle) in BENT.items():
        joint = kept_names.index(name)
        values[1, sum(len(c) for c in channels[:joint]) + channels[joint].index(channel)] = angle
    renamed = [names.get(n, n) for n in kept_names]
    return bvh.Motion(renamed, parents, offsets, channels, end_sites, values, 0.1)


def limb_directions(positions: np.ndarray, names: list[str]) -> np.ndarray:
    vectors = np.stack([positions[..., names.index(b), :] - positions[..., names.index(a), :]
                        for a, b in LIMBS], -2)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


@pytest.mark.parametrize("naming", NAMINGS)
def test_naming_drives_synth(naming, tmp_path, anny_body):
    from vidcli.body.anny_model import Phenotype
    from vidcli.body.retarget import retarget
    from vidcli.commands.synth import synth

    path = tmp_path / "clip.bvh"
    bvh.write(cmu_skeleton_in(naming), path)
    motion = bvh.parse(path)
    assert set(motion.names) == set(procedural_walk(0.1, 10).names) - NAMINGS[naming][1]  # MotionBuilder's
    rest = anny_body.rest(Phenotype())
    rotations, root = retarget(motion, rest, anny_body.bone_names, anny_body.parents)
    _, heads = anny_body.pose(rest, rotations, root)
    expected = limb_directions(motion.forward_kinematics()[1], motion.names)
    cosines = (limb_directions(heads, anny_body.bone_names) * expected).sum(-1)
    assert cosines.min() > np.cos(np.radians(3)), naming

    out = tmp_path / "clip.mp4"
    result = CliRunner().invoke(synth, [str(out), "--bvh", str(path), "--people", "1", "--duration", "0.2",
                                        "--fps", "10", "--size", "64x36", "--camera", "static"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "clip.mp4.gt" / "people.json").read_text())


def test_a_skeleton_without_legs_is_refused_in_one_line(tmp_path):
    motion = cmu_skeleton_in("motionbuilder")
    motion.names = [name.replace("LeftUpLeg", "LeftThighBone") for name in motion.names]
    bvh.write(motion, tmp_path / "odd.bvh")
    result = vidcli("synth", str(tmp_path / "odd.mp4"), "--bvh", str(tmp_path / "odd.bvh"), "--people", "1",
                    "--duration", "0.2", "--size", "64x36")
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "odd.bvh: the BVH skeleton lacks LeftUpLeg" in errors[0]
    assert not list(tmp_path.glob("odd.mp4*"))


@pytest.mark.skipif(not (SHARED_DATA / "motion").is_dir(), reason="no shared/data/motion")
def test_shared_skeletons_retarget_with_their_limb_directions(anny_body):
    """Every skeleton of shared/data/motion with CMU's joints (any of `bvh.NAMINGS`) keeps its limb
    directions to within 16 degrees; Reallusion's CC_Base skeletons are refused."""
    from vidcli.body.anny_model import Phenotype
    from vidcli.body.retarget import retarget
    from vidcli.errors import InputError

    rest = anny_body.rest(Phenotype())
    for path in sorted((SHARED_DATA / "motion").glob("*.bvh")):
        motion = bvh.parse(path)
        if any(name.startswith("CC_Base") for name in motion.names):
            with pytest.raises(InputError, match="lacks Hips"):
                retarget(motion, rest, anny_body.bone_names, anny_body.parents)
            continue
        frames = np.linspace(0, motion.frame_count - 1, 4).astype(int)
        rotations, root = retarget(motion, rest, anny_body.bone_names, anny_body.parents)
        _, heads = anny_body.pose(rest, rotations[frames], root[frames])
        expected = limb_directions(motion.forward_kinematics()[1][frames], motion.names)
        cosines = (limb_directions(heads, anny_body.bone_names) * expected).sum(-1)
        assert cosines.min() > np.cos(np.radians(16)), path.name
