"""Check the rig exports in Blender itself: import each rig's `.bvh` and `.glb` with Blender's own importers
and measure how far each shared joint lands from the fitted body's joint.

A body turning every joint (the motion of tests/test_rigs.py) is exported on every rig; Blender (a Python
with the `bpy` module: `pip install bpy` in a separate Python 3.11 environment, not vidcli's) imports the
BVH (`import_anim.bvh`, Y up, 1 cm = 0.01) and the glTF (`import_scene.gltf`), and each pose bone's head
is compared, frame by frame, with the SMPL-24 joint of the same name's bone (Blender's z up turned back to
y up). Prints the largest error per rig and format, in millimetres.

Usage: ANNY_CACHE_DIR=.cache/anny python benchmarks/rigs_in_blender.py --blender-python /path/to/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FPS = 30


def export(directory: Path) -> None:
    """Every rig's .bvh and .glb of the test motion, and the joints they must reproduce (`expected.json`)."""
    import importlib.util

    from vidcli import bvh
    from vidcli.body.models import BodySpec, load_body_model, pose_numpy
    from vidcli.body.skeletons import SMPL_24
    from vidcli.mocap.export import bvh_motion, write_glb
    from vidcli.mocap.rigs import RIGS, get_rig

    tests = Path(__file__).resolve().parents[1] / "tests"
    spec = importlib.util.spec_from_file_location("test_rigs", tests / "test_rigs.py")
    test_rigs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_rigs)
    model = load_body_model(BodySpec())
    shape, local, root = test_rigs.turning_motion(model)
    joints = pose_numpy(model, shape, local, root)[1]
    bones = {}
    for rig in RIGS:
        bvh.write(bvh_motion(model, shape, local, root, FPS, rig), directory / f"{rig}.bvh")
        write_glb(directory / f"{rig}.glb", model, shape, local, root, FPS, (200, 60, 50), rig)
        bones[rig] = {bone.name: SMPL_24.index(bone.joint) for bone in get_rig(rig).bones if bone.joint}
    (directory / "expected.json").write_text(json.dumps({"joints": joints.tolist(), "bones": bones}))


def measure_in_blender(directory: Path) -> None:
    """Run inside Blender's Python: one line per rig and format."""
    import bpy
    import numpy as np

    expected = json.loads((directory / "expected.json").read_text())
    joints = np.array(expected["joints"])
    for rig, bones in expected["bones"].items():
        for kind in ("bvh", "glb"):
            bpy.ops.wm.read_factory_settings(use_empty=True)
            bpy.context.scene.render.fps = FPS
            path = str(directory / f"{rig}.{kind}")
            if kind == "bvh":
                bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", global_scale=0.01,
                                        rotate_mode="NATIVE", update_scene_duration=True)
            else:
                bpy.ops.import_scene.gltf(filepath=path)
            armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
            worst = 0.0
            for frame in range(len(joints)):
                bpy.context.scene.frame_set(frame + 1 if kind == "bvh" else frame)  # BVH keys start at 1
                for name, joint in bones.items():
                    head = armature.matrix_world @ armature.pose.bones[name].head
                    y_up = np.array([head.x, head.z, -head.y])
                    worst = max(worst, float(np.linalg.norm(y_up - joints[frame, joint])))
            print(f"RESULT {rig} {kind} {len(armature.pose.bones)} {worst * 1000:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blender-python", help="a Python that can `import bpy`")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        measure_in_blender(args.inside)
        return
    if not args.blender_python:
        parser.error("--blender-python is required")
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        export(directory)
        run = subprocess.run([args.blender_python, __file__, "--inside", str(directory)], capture_output=True,
                             text=True, check=True)
    print(f"{'rig':8s} {'file':5s} {'bones':>5s} {'largest joint error (mm)':>25s}")
    for line in run.stdout.splitlines():
        if line.startswith("RESULT "):
            rig, kind, count, error = line.split()[1:]
            print(f"{rig:8s} {kind:5s} {count:>5s} {error:>25s}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
