"""BVH motion files: parse, write and forward kinematics.

A BVH file is a joint hierarchy (offsets in file units, per-joint channel lists in any order) and a
table of channel values per frame. Rotation channels compose in the order they are listed
(``Zrotation Yrotation Xrotation`` means R = Rz @ Ry @ Rx, angles in degrees), and a joint's world
rotation is its parent's world rotation times its own, the rest pose (all channels zero) having every
joint's world rotation equal to the identity.

A non-root joint's position channels, where a file has them (Bandai Namco's), hold its whole local
translation (they repeat the OFFSET in the rest pose), so they replace the offset; the root's are added
to its offset.

CMU motion capture files use a unit of about 0.0564 m ((1 / 0.45) inch, the scale the CMU
conversion to BVH applied); `CMU_UNIT_M` converts them to metres. Joint names are renamed to the CMU
MotionBuilder names (LeftUpLeg, LeftLeg, Spine1, ...) when parsed, whichever naming a file uses
(`NAMINGS`: the CMU conversions for 3ds Max and Daz, and other skeletons that share the CMU's layout),
so they all drive the same rig; joints a naming has no counterpart for keep their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcli.errors import InputError

CMU_UNIT_M = 2.54 / 100 / 0.45

# Joint namings -> MotionBuilder names, each recognised by joints only it has ("markers"). A table
# applies only to files of its naming, since the same name may mean different joints in two namings
# ("LeftShoulder" is the collar bone in MotionBuilder's and the upper arm in 3ds Max's).
_SIDES = (("Left", "l", "L"), ("Right", "r", "R"))
NAMINGS: dict[str, tuple[set[str], dict[str, str]]] = {
    "CMU 3ds Max": ({"LeftHip", "LeftCollar", "Chest2", "lowerneck"}, {
        "lowerback": "LowerBack", "Chest": "Spine", "Chest2": "Spine1", "lowerneck": "Neck", "Neck": "Neck1",
        **{f"{side}{max_name}": f"{side}{mb_name}" for side, _, _ in _SIDES for max_name, mb_name in (
            ("Hip", "UpLeg"), ("Knee", "Leg"), ("Ankle", "Foot"), ("Toe", "ToeBase"), ("Collar", "Shoulder"),
            ("Shoulder", "Arm"), ("Elbow", "ForeArm"), ("Wrist", "Hand"))},
        "lhand": "LeftFingerBase", "rhand": "RightFingerBase"}),
    "CMU Daz": ({"hip", "abdomen", "lThigh", "rThigh"}, {
        "hip": "Hips", "abdomen": "LowerBack", "chest": "Spine1", "neck": "Neck", "head": "Head",
        **{f"{s}{daz_name}": f"{side}{mb_name}" for side, s, _ in _SIDES for daz_name, mb_name in (
            ("Thigh", "UpLeg"), ("Shin", "Leg"), ("Foot", "Foot"), ("Collar", "Shoulder"),
            ("Shldr", "Arm"), ("ForeArm", "ForeArm"), ("Hand", "Hand"), ("Mid1", "FingerBase"),
            ("Mid2", "HandIndex1"))},
        "lButtock": "LHipJoint", "rButtock": "RHipJoint", "lThumb1": "LThumb", "rThumb1": "RThumb"}),
    # 22-joint CMU retargets (SNU): three spine joints named one step higher than MotionBuilder's.
    "SNU 22-joint": ({"Spine2", "LeftToe"}, {
        "Spine": "LowerBack", "Spine1": "Spine", "Spine2": "Spine1", "LeftToe": "LeftToeBase",
        "RightToe": "RightToeBase"}),
    "ACCAD": ({"ToSpine"}, {"ToSpine": "LowerBack"}),
    "Bandai Namco": ({"UpperLeg_L", "UpperArm_L"}, {
        "Chest": "Spine1", **{f"{name}_{s}": f"{side}{mb}" for side, _, s in _SIDES for name, mb in (
            ("Shoulder", "Shoulder"), ("UpperArm", "Arm"), ("LowerArm", "ForeArm"), ("Hand", "Hand"),
            ("UpperLeg", "UpLeg"), ("LowerLeg", "Leg"), ("Foot", "Foot"), ("Toes", "ToeBase"))}}),
    "SNU woody": ({"LeftShoulder1"}, {"LeftShoulder1": "LeftShoulder", "HEad": "Head",
                                      "LeftToes": "LeftToeBase", "RightToes": "RightToeBase"}),
}
# Names that mean one joint in every naming: the CMU MotionBuilder conversions name the finger joint
# either LeftHandIndex1 or LFingers.
_ANY_NAMING = {"LFingers": "LeftHandIndex1", "RFingers": "RightHandIndex1"}
# MotionBuilder HumanIK prefixes every joint with the character's name.
_HUMANIK_PREFIX = "Character1_"

_AXES = {"X": 0, "Y": 1, "Z": 2}


@dataclass
class Motion:
    """A BVH skeleton and its animation.

    `names[j]`, `parents[j]` (-1 for the root; parents come before children), `offsets[j]` (file
    units), `channels[j]` (channel names in file order), `end_sites[j]` (End Site offset or None),
    `values` (F, total channel count) in file order, `frame_time` in seconds.
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    end_sites: list[np.ndarray | None]
    values: np.ndarray
    frame_time: float

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def frame_count(self) -> int:
        return len(self.values)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame local rotations (F, J, 3, 3) and local translations (F, J, 3) in file units."""
        frames, joints = len(self.values), len(self.names)
        rotations = np.broadcast_to(np.eye(3), (frames, joints, 3, 3)).copy()
        translations = np.broadcast_to(self.offsets, (frames, joints, 3)).copy()
        column = 0
        for j, channels in enumerate(self.channels):
            for name in channels:
                value = self.values[:, column]
                axis = _AXES[name[0].upper()]
                if name.lower().endswith("position"):
                    translations[:, j, axis] = value + (self.offsets[j, axis] if self.parents[j] < 0 else 0.0)
                else:
                    rotations[:, j] = rotations[:, j] @ axis_rotation(axis, np.radians(value))
                column += 1
        return rotations, translations

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (F, J, 3, 3) and joint positions (F, J, 3) in file units."""
        local_rotations, local_translations = self.local_transforms()
        rotations = np.empty_like(local_rotations)
        positions = np.empty_like(local_translations)
        for j, parent in enumerate(self.parents):
            if parent < 0:
                rotations[:, j] = local_rotations[:, j]
                positions[:, j] = local_translations[:, j]
            else:
                rotations[:, j] = rotations[:, parent] @ local_rotations[:, j]
                positions[:, j] = positions[:, parent] + np.einsum(
                    "fab,fb->fa", rotations[:, parent], local_translations[:, j])
        return rotations, positions


def axis_rotation(axis: int, angles) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about the x (0), y (1) or z (2) axis by `angles` radians."""
    angles = np.asarray(angles, dtype=float)
    c, s = np.cos(angles), np.sin(angles)
    out = np.zeros(angles.shape + (3, 3))
    i, k = (axis + 1) % 3, (axis + 2) % 3
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., k, k] = c
    out[..., i, k] = -s
    out[..., k, i] = s
    return out


def continuous_euler(rotations: np.ndarray, order: str) -> np.ndarray:
    """Euler angles in degrees (F, ..., 3) of rotations (F, ..., 3, 3) for rotation channels listed in
    `order` ("ZYX": R = Rz Ry Rx), chosen to stay continuous along the frames (axis 0).

    A rotation has two Euler triples, (a, b, c) and (a + 180, 180 - b, c + 180), each angle also up to
    multiples of 360, and at b = ±90 (gimbal lock) a whole line of them, (a + t, b, c ± t). Each frame
    takes the triple nearest the previous frame's (the first frame the one with |b| <= 90), so a
    smoothly turning joint gives smoothly changing channels, without the 180° or 360° flips between
    frames that animation software would interpolate through.
    """
    import warnings

    from scipy.spatial.transform import Rotation

    rotations = np.asarray(rotations, dtype=float)
    with warnings.catch_warnings():  # at gimbal lock scipy sets c to 0; the line of triples is handled below
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        principal = Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_euler(order.upper(), degrees=True)
    principal = principal.reshape(rotations.shape[:-2] + (3,))
    flipped = principal + np.array([180.0, 0.0, 180.0])
    flipped[..., 1] = 180.0 - principal[..., 1]
    # At b = ±90 the rotation depends on a - k c only, k = ±1 by the sign of b and the axes' cyclic order.
    parity = -1.0 if order.upper() in ("XYZ", "YZX", "ZXY") else 1.0
    locked = np.abs(np.abs(principal[..., 1]) - 90.0) < 1e-6
    lock_sign = parity * np.sign(principal[..., 1])
    out = np.empty_like(principal)
    out[0] = principal[0]
    for frame in range(1, len(principal)):
        previous = out[frame - 1]
        candidates = np.stack([principal[frame], flipped[frame]])
        k = lock_sign[frame]
        slide = ((previous[..., 0] - candidates[..., 0]) + k * (previous[..., 2] - candidates[..., 2])) / 2
        slide = np.where(locked[frame], slide, 0.0)
        candidates[..., 0] += slide
        candidates[..., 2] += k * slide
        candidates += 360.0 * np.round((previous - candidates) / 360.0)
        distance = ((candidates - previous) ** 2).sum(axis=-1)
        out[frame] = np.where((distance[0] <= distance[1])[..., None], candidates[0], candidates[1])
    return out


def parse(path) -> Motion:
    """Read a BVH file (any channel order, CRLF or LF line endings), joints renamed to MotionBuilder names."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    try:
        motion = _parse_text(text)
    except (ValueError, IndexError) as error:
        raise InputError(f"{path}: not a valid BVH file ({error})") from None
    motion.names = motionbuilder_names(motion.names)
    return motion


def motionbuilder_names(names: list[str]) -> list[str]:
    """`names` in the CMU MotionBuilder naming, by the first of `NAMINGS` whose markers they contain."""
    names = [name.removeprefix(_HUMANIK_PREFIX) for name in names]
    table = next((table for markers, table in NAMINGS.values() if markers <= set(names)), {})
    return [_ANY_NAMING.get(name, table.get(name, name)) for name in names]


def _parse_text(text: str) -> Motion:
    tokens = text.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise ValueError("it does not start with HIERARCHY")
    names, parents, offsets, channels, end_sites = [], [], [], [], []
    stack: list[int] = []
    position = 1
    while tokens[position] != "MOTION":
        token = tokens[position]
        if token in ("ROOT", "JOINT"):
            if token == "ROOT" and names:
                raise ValueError("more than one ROOT")
            names.append(tokens[position + 1])
            parents.append(stack[-1] if stack else -1)
            end_sites.append(None)
            position += 2
        elif token == "End":
            # End Site { OFFSET x y z }
            end_sites[stack[-1]] = np.array([float(v) for v in tokens[position + 4:position + 7]])
            position += 8
        elif token == "{":
            stack.append(len(names) - 1)
            position += 1
        elif token == "}":
            stack.pop()
            position += 1
        elif token == "OFFSET":
            offsets.append([float(v) for v in tokens[position + 1:position + 4]])
            position += 4
        elif token == "CHANNELS":
            count = int(tokens[position + 1])
            channels.append(tokens[position + 2:position + 2 + count])
            position += 2 + count
        else:
            raise ValueError(f"unexpected token {token!r}")
    if tokens[position + 1] != "Frames:" or tokens[position + 3:position + 5] != ["Frame", "Time:"]:
        raise ValueError("malformed MOTION header")
    frames = int(tokens[position + 2])
    frame_time = float(tokens[position + 5])
    width = sum(len(c) for c in channels)
    numbers = np.array(tokens[position + 6:position + 6 + frames * width], dtype=float)
    if len(numbers) != frames * width or len(offsets) != len(names) or len(channels) != len(names):
        raise ValueError(f"expected {frames} frames of {width} channels")
    return Motion(names, parents, np.array(offsets, dtype=float), channels, end_sites,
                  numbers.reshape(frames, width), frame_time)


def write(motion: Motion, path) -> None:
    """Write `motion` as a BVH file (LF line endings) through a temporary name."""
    lines = ["HIERARCHY"]

    def emit(joint: int, depth: int) -> None:
        pad = "\t" * depth
        keyword = "ROOT" if motion.parents[joint] < 0 else "JOINT"
        lines.append(f"{pad}{keyword} {motion.names[joint]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {_numbers(motion.offsets[joint])}")
        lines.append(f"{pad}\tCHANNELS {len(motion.channels[joint])} {' '.join(motion.channels[joint])}")
        for child in motion.children(joint):
            emit(child, depth + 1)
        if motion.end_sites[joint] is not None:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{",
                          f"{pad}\t\tOFFSET {_numbers(motion.end_sites[joint])}", f"{pad}\t}}"])
        lines.append(pad + "}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {motion.frame_count}", f"Frame Time: {motion.frame_time:.8f}"]
    lines += [_numbers(row) for row in motion.values]
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)


def _numbers(values) -> str:
    return " ".join(f"{v:.6f}" for v in values)
