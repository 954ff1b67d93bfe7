"""Per-person motion files: AMASS-style `.npz`, BVH and an animated, skinned glTF binary (`.glb`).

All three carry one gap-free segment of a person in the world frame (y up, metres; the BVH in
centimetres), rotations relative to a rest pose; the `.npz` on the SMPL-24 skeleton, the `.bvh` and
`.glb` on the rig chosen with `export.rig` (`vidcli.mocap.rigs`: SMPL-24, Anny's bone names, Mixamo or
the UE5 Mannequin):

- `.npz`: `poses` (F, 72 for SMPL and Anny; F, 165 for SMPL-X, AMASS's layout with jaw, eyes and
  hands at zero) axis-angle local rotations, root first; `trans` (F, 3); `mocap_framerate`; `frames`
  (video frame numbers); `body_model`. SMPL / SMPL-X add `betas` and `gender`, and `trans` is SMPL's
  translation (pelvis minus the shaped rest pelvis). Anny adds `shape` and `shape_labels` (phenotype
  and skeleton adjustments, see `vidcli.body.models.AnnyModel`), and `trans` is the pelvis position.
- `.bvh`: the rig's bones with offsets of the fitted skeleton in the rig's rest pose, root position and
  ZYX rotation channels (R = Rz Ry Rx), every joint's rotation relative to the rest pose; the angles
  are continuous from frame to frame (`vidcli.bvh.continuous_euler`), so they may leave ±180°.
- `.glb`: the rest mesh skinned (4 weights per vertex) to the rig, whose node rotations and root
  translation are animated; the body model's corrective shapes are not included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from vidcli import bvh
from vidcli.body.kinematics import matrix_to_axis_angle
from vidcli.body.models import BodyModel, BodySpec, pose_numpy
from vidcli.body.skeletons import SMPL_24
from vidcli.mocap.rigs import get_rig, retarget

BVH_UNITS_PER_M = 100.0
_SMPLX_POSES = 165


def rest_joints(model: BodyModel, shape: np.ndarray) -> np.ndarray:
    """The rest skeleton (24, 3), pelvis at the origin."""
    return pose_numpy(model, shape, np.eye(3)[None, None].repeat(len(SMPL_24), 1), np.zeros((1, 3)))[1][0]


def amass_arrays(model: BodyModel, spec: BodySpec, shape: np.ndarray, local: np.ndarray, root: np.ndarray,
                 frames: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """The AMASS-style arrays of one segment (see the module docstring)."""
    poses = matrix_to_axis_angle(local).reshape(len(local), -1)
    out = {"frames": np.asarray(frames, np.int64), "mocap_framerate": np.float64(fps),
           "body_model": np.array(spec.name)}
    if spec.name == "anny":
        return out | {"poses": poses, "trans": np.asarray(root, float), "shape": np.asarray(shape, float),
                      "shape_labels": np.array(model.shape_labels)}
    if spec.name == "smplx":
        poses = np.concatenate([poses[:, :22 * 3], np.zeros((len(poses), _SMPLX_POSES - 22 * 3))], axis=1)
    rest_pelvis = model.rest_pelvis(shape)
    return out | {"poses": poses, "trans": np.asarray(root, float) - rest_pelvis,
                  "betas": np.asarray(shape, float), "gender": np.array(spec.gender)}


def bvh_motion(model: BodyModel, shape: np.ndarray, local: np.ndarray, root: np.ndarray, fps: float,
               rig: str = "smpl") -> bvh.Motion:
    """One segment as a BVH motion on `rig`, in centimetres; joints in depth-first order (the order of a
    BVH file's hierarchy and channels)."""
    chosen = get_rig(rig)
    floor = float(model.rest_mesh(shape)[0][:, 1].min()) if chosen.floor_root else 0.0
    motion = retarget(chosen, rest_joints(model, shape), floor, local, root)
    parents_in_rig = motion.rig.parents
    order = _depth_first(parents_in_rig, 0)
    parents = [order.index(parents_in_rig[b]) if parents_in_rig[b] >= 0 else -1 for b in order]
    heads = motion.rest[order] * BVH_UNITS_PER_M
    offsets = motion.offsets[order] * BVH_UNITS_PER_M
    end_sites = [0.5 * (heads[i] - heads[p]) if p >= 0 and i not in parents else None
                 for i, p in enumerate(parents)]
    rotation = ["Zrotation", "Yrotation", "Xrotation"]
    channels = [["Xposition", "Yposition", "Zposition", *rotation]] + [rotation] * (len(order) - 1)
    angles = bvh.continuous_euler(motion.local[:, order], "ZYX").reshape(len(local), -1)
    values = np.concatenate([motion.translation * BVH_UNITS_PER_M, angles], axis=1)
    return bvh.Motion([motion.rig.names[b] for b in order], parents, offsets, channels, end_sites, values,
                      1.0 / fps)


def _depth_first(parents: list[int], bone: int) -> list[int]:
    children = [c for c, p in enumerate(parents) if p == bone]
    return [bone] + [b for child in children for b in _depth_first(parents, child)]


def write_glb(path: Path, model: BodyModel, shape: np.ndarray, local: np.ndarray, root: np.ndarray,
              fps: float, colour: tuple[int, int, int], rig: str = "smpl") -> None:
    """Write one segment as an animated skinned mesh on `rig` (see the module docstring)."""
    import pygltflib as gl

    vertices, weights = model.rest_mesh(shape)
    skeleton = get_rig(rig), rest_joints(model, shape), float(vertices[:, 1].min())
    motion = retarget(*skeleton, local, root)
    bones, parents = motion.rig.names, motion.rig.parents
    # The mesh is in the body's rest pose: the rig's pose for identity SMPL rotations binds it.
    identity = np.eye(3)[None, None].repeat(len(SMPL_24), 1)
    bind_rotations, bind_heads = retarget(*skeleton, identity, np.zeros((1, 3))).world()
    bind = np.tile(np.eye(4), (len(bones), 1, 1))
    bind[:, :3, :3], bind[:, :3, 3] = bind_rotations[0], bind_heads[0]
    inverse_bind = np.linalg.inv(bind)
    top = np.argsort(-weights, axis=1)[:, :4]
    top_weights = np.take_along_axis(weights, top, axis=1)
    top_weights /= top_weights.sum(axis=1, keepdims=True)
    top = np.array([motion.rig.bone_of(j) for j in range(len(SMPL_24))])[top]
    times = np.arange(len(local)) / fps
    quaternions = Rotation.from_matrix(motion.local.reshape(-1, 3, 3)).as_quat().reshape(len(local), -1, 4)

    blob = bytearray()
    views, accessors = [], []

    def add(array: np.ndarray, kind: str, component: int, target: int | None = None,
            bounds: bool = False) -> int:
        data = np.ascontiguousarray(array).tobytes()
        while len(blob) % 4:
            blob.append(0)
        views.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data), target=target))
        blob.extend(data)
        extra = {"min": array.min(axis=0).tolist(), "max": array.max(axis=0).tolist()} if bounds else {}
        accessors.append(gl.Accessor(bufferView=len(views) - 1, componentType=component, count=len(array),
                                     type=kind, **extra))
        return len(accessors) - 1

    position = add(vertices.astype(np.float32), gl.VEC3, gl.FLOAT, gl.ARRAY_BUFFER, bounds=True)
    joint_ids = add(top.astype(np.uint16), gl.VEC4, gl.UNSIGNED_SHORT, gl.ARRAY_BUFFER)
    joint_weights = add(top_weights.astype(np.float32), gl.VEC4, gl.FLOAT, gl.ARRAY_BUFFER)
    indices = add(model.faces.astype(np.uint32).reshape(-1), gl.SCALAR, gl.UNSIGNED_INT,
                  gl.ELEMENT_ARRAY_BUFFER)
    binds = add(np.swapaxes(inverse_bind, 1, 2).reshape(-1, 16).astype(np.float32), gl.MAT4, gl.FLOAT)
    time_accessor = add(times.astype(np.float32)[:, None], gl.SCALAR, gl.FLOAT, bounds=True)
    translation_accessor = add(motion.translation.astype(np.float32), gl.VEC3, gl.FLOAT)
    rotation_accessors = [add(quaternions[:, b].astype(np.float32), gl.VEC4, gl.FLOAT)
                          for b in range(len(bones))]

    nodes = []
    offsets = motion.offsets
    offsets[0] = motion.rest[0]
    for b, name in enumerate(bones):
        nodes.append(gl.Node(name=name, translation=[float(v) for v in offsets[b]],
                             children=[c for c, p in enumerate(parents) if p == b]))
    mesh_node = len(nodes)
    nodes.append(gl.Node(name="body", mesh=0, skin=0))
    samplers = [gl.AnimationSampler(input=time_accessor, output=translation_accessor, interpolation="LINEAR")]
    channels = [gl.AnimationChannel(sampler=0, target=gl.AnimationChannelTarget(node=0, path="translation"))]
    for j, accessor in enumerate(rotation_accessors):
        samplers.append(gl.AnimationSampler(input=time_accessor, output=accessor, interpolation="LINEAR"))
        target = gl.AnimationChannelTarget(node=j, path="rotation")
        channels.append(gl.AnimationChannel(sampler=j + 1, target=target))
    material = gl.Material(pbrMetallicRoughness=gl.PbrMetallicRoughness(
        baseColorFactor=[c / 255 for c in colour] + [1.0], metallicFactor=0.0, roughnessFactor=0.8))
    attributes = gl.Attributes(POSITION=position, JOINTS_0=joint_ids, WEIGHTS_0=joint_weights)
    primitive = gl.Primitive(attributes=attributes, indices=indices, material=0)
    document = gl.GLTF2(
        asset=gl.Asset(generator="vidcli"), scene=0, scenes=[gl.Scene(nodes=[0, mesh_node])], nodes=nodes,
        meshes=[gl.Mesh(name="body", primitives=[primitive])], materials=[material],
        skins=[gl.Skin(joints=list(range(len(bones))), skeleton=0, inverseBindMatrices=binds)],
        animations=[gl.Animation(name="motion", samplers=samplers, channels=channels)],
        accessors=accessors, bufferViews=views, buffers=[gl.Buffer(byteLength=len(blob))])
    document.set_binary_blob(bytes(blob))
    partial = path.with_name(f".{path.name}.partial")
    document.save_binary(str(partial))
    partial.replace(path)
