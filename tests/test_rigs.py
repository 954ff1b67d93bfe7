"""Exports on the rigs users already have (`export.rig`): the motion survives the renaming, the
in-between bones and the T-pose rest exactly, in BVH (read back as Blender's importer reads it) and glTF."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vidcli import bvh
from vidcli.body.models import BodySpec, load_body_model, pose_numpy
from vidcli.body.skeletons import SMPL_24
from vidcli.mocap.export import bvh_motion, write_glb
from vidcli.mocap.rigs import RIGS, get_rig

FPS = 30.0


def turning_motion(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An adult's shape, local rotations (6, 24, 3, 3) turning and bending every joint, and pelvis positions
    walking off (also benchmarks/rigs_in_blender.py's motion)."""
    rng = np.random.default_rng(4)
    frames = 6
    turns = rng.normal(0, 0.4, (24, 3)) * np.linspace(0, 1, frames)[:, None, None]
    turns[:, 0] = np.linspace(0, 1, frames)[:, None] * [0.3, 2.5, 0.2]  # the root turns 143 degrees
    local = Rotation.from_rotvec(turns.reshape(-1, 3)).as_matrix().reshape(frames, 24, 3, 3)
    root = np.stack([np.linspace(0, 1, frames), 0.9 + 0.05 * np.sin(np.arange(frames)), np.zeros(frames)], 1)
    shape = np.zeros(len(model.shape_labels))
    shape[:len(model.phenotype_labels)] = 0.5  # an adult of middle height and weight
    return shape, local, root


@pytest.fixture(scope="module")
def motion(anny_body):
    """The turning body and its SMPL-24 joints in the world (metres)."""
    model = load_body_model(BodySpec())
    shape, local, root = turning_motion(model)
    return model, shape, local, root, pose_numpy(model, shape, local, root)[1]


def _shared(rig: str) -> tuple[list[str], list[int]]:
    """Names of the rig's bones on SMPL joints, and those joints."""
    bones = [bone for bone in get_rig(rig).bones if bone.joint]
    return [bone.name for bone in bones], [SMPL_24.index(bone.joint) for bone in bones]


def _blender_positions(back: bvh.Motion) -> np.ndarray:
    """Joint positions as Blender's BVH importer computes them: each joint's Euler channels, in the
    order the file lists them, compose as intrinsic rotations (scipy's upper-case order)."""
    column, world, positions = 0, {}, np.zeros((back.frame_count, len(back.names), 3))
    for j, channels in enumerate(back.channels):
        values = back.values[:, column:column + len(channels)]
        column += len(channels)
        order = "".join(name[0] for name in channels if name.endswith("rotation"))
        angles = values[:, [k for k, name in enumerate(channels) if name.endswith("rotation")]]
        rotation = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()
        parent = back.parents[j]
        if parent < 0:
            world[j], positions[:, j] = rotation, back.offsets[j] + values[:, :3]
        else:
            world[j] = world[parent] @ rotation
            positions[:, j] = positions[:, parent] + world[parent] @ back.offsets[j]
    return positions


@pytest.mark.parametrize("rig", RIGS)
def test_bvh_on_each_rig_keeps_the_motion_and_blenders_conventions(motion, rig, tmp_path):
    model, shape, local, root, joints = motion
    bvh.write(bvh_motion(model, shape, local, root, FPS, rig), tmp_path / "p.bvh")
    text = (tmp_path / "p.bvh").read_text()
    back = bvh.parse(tmp_path / "p.bvh")
    names, smpl = _shared(rig)
    assert sorted(back.names) == sorted(get_rig(rig).names) and len(names) == 24
    assert back.channels[0] == ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
    assert all(channels == ["Zrotation", "Yrotation", "Xrotation"] for channels in back.channels[1:])
    assert f"ROOT {get_rig(rig).names[0]}" in text
    columns = [back.names.index(name) for name in names]
    np.testing.assert_allclose(back.forward_kinematics()[1][:, columns] / 100, joints[:, smpl], atol=1e-4)
    np.testing.assert_allclose(_blender_positions(back)[:, columns] / 100, joints[:, smpl], atol=1e-4)

    at_rest = bvh.Motion(back.names, back.parents, back.offsets, back.channels, back.end_sites,
                         back.values[:1] * 0, 1).forward_kinematics()[1][0]
    rest = {smpl_joint: at_rest[back.names.index(name)] for name, smpl_joint in zip(names, smpl)}
    head, pelvis = rest[SMPL_24.index("head")], rest[0]
    assert head[1] - pelvis[1] > 40  # y up, centimetres
    if get_rig(rig).t_pose:
        for side in ("left", "right"):
            arm = np.array([rest[SMPL_24.index(f"{side}_{j}")] for j in ("shoulder", "elbow", "wrist")])
            leg = np.array([rest[SMPL_24.index(f"{side}_{j}")] for j in ("hip", "knee", "ankle")])
            assert np.ptp(arm[:, 1]) < 1e-3 and np.ptp(arm[:, 2]) < 1e-3  # arms straight out along x
            assert (np.sign(arm[1:, 0] - arm[:-1, 0]) == (1 if side == "left" else -1)).all()
            assert np.ptp(leg[:, 0]) < 1e-3 and np.ptp(leg[:, 2]) < 1e-3  # legs straight down


def test_ue5_root_stands_on_the_floor_under_the_pelvis(motion, tmp_path):
    model, shape, local, root, _ = motion
    back = bvh_motion(model, shape, local, root, FPS, "ue5")
    assert back.names[:3] == ["root", "pelvis", "spine_01"]
    soles = model.rest_mesh(shape)[0][:, 1].min()
    np.testing.assert_allclose(back.offsets[1], [0, -soles * 100, 0], atol=1e-6)
    np.testing.assert_allclose(back.values[:, :3] / 100, root + [0, soles, 0], atol=1e-6)
    np.testing.assert_allclose(back.values[:, 3:6], 0, atol=1e-9)  # the root only carries the translation


def _skinned(path, frame: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Bone names, bone heads and vertices of a .glb at a frame, skinned as a glTF viewer does."""
    import pygltflib

    document = pygltflib.GLTF2().load(str(path))
    blob = document.binary_blob()

    def read(index: int, dtype, width: int) -> np.ndarray:
        accessor = document.accessors[index]
        start = document.bufferViews[accessor.bufferView].byteOffset + (accessor.byteOffset or 0)
        return np.frombuffer(blob, dtype, accessor.count * width, start).reshape(accessor.count, width)

    nodes = document.nodes
    local = {i: (np.eye(3), np.array(node.translation or [0, 0, 0], float)) for i, node in enumerate(nodes)}
    animation = document.animations[0]
    for channel in animation.channels:
        sampler, node = animation.samplers[channel.sampler], channel.target.node
        if channel.target.path == "rotation":
            turn = Rotation.from_quat(read(sampler.output, np.float32, 4)[frame]).as_matrix()
            local[node] = (turn, local[node][1])
        else:
            local[node] = (local[node][0], read(sampler.output, np.float32, 3)[frame].astype(float))
    parents = {child: i for i, node in enumerate(nodes) for child in node.children}
    world = {}
    for i in sorted(local, key=lambda n: _depth(parents, n)):
        transform = np.eye(4)
        transform[:3, :3], transform[:3, 3] = local[i]
        world[i] = world[parents[i]] @ transform if i in parents else transform
    skin = document.skins[0]
    primitive = document.meshes[0].primitives[0]
    inverse_bind = read(skin.inverseBindMatrices, np.float32, 16).reshape(-1, 4, 4).transpose(0, 2, 1)
    matrices = np.stack([world[node] @ inverse_bind[k] for k, node in enumerate(skin.joints)])
    vertices = read(primitive.attributes.POSITION, np.float32, 3).astype(float)
    bone_ids = read(primitive.attributes.JOINTS_0, np.uint16, 4)
    weights = read(primitive.attributes.WEIGHTS_0, np.float32, 4)
    homogeneous = np.concatenate([vertices, np.ones((len(vertices), 1))], axis=1)
    blended = np.einsum("vk,vkab->vab", weights, matrices[bone_ids])
    skinned = np.einsum("vab,vb->va", blended, homogeneous)[:, :3]
    names = [nodes[node].name for node in skin.joints]
    return names, np.stack([world[node][:3, 3] for node in skin.joints]), skinned


def _depth(parents: dict, node: int) -> int:
    return 0 if node not in parents else 1 + _depth(parents, parents[node])


def test_glb_on_each_rig_skins_the_same_body_and_joints(motion, tmp_path):
    model, shape, local, root, joints = motion
    frame = len(local) - 1
    reference = None
    for rig in RIGS:
        write_glb(tmp_path / f"{rig}.glb", model, shape, local, root, FPS, (200, 60, 50), rig)
        names, heads, vertices = _skinned(tmp_path / f"{rig}.glb", frame)
        shared, smpl = _shared(rig)
        assert sorted(names) == sorted(get_rig(rig).names)
        np.testing.assert_allclose(heads[[names.index(n) for n in shared]], joints[frame, smpl], atol=1e-4)
        reference = vertices if reference is None else reference
        np.testing.assert_allclose(vertices, reference, atol=1e-4)  # the rest pose does not move the skin
