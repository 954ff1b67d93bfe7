"""`vidcli animate`: skeletons, retargeting, the ARAP puppet, the embedded and diffusion backends,
backend choice, bad inputs and the command. The diffusion backend runs on the CPU with tiny
randomly initialised models saved in the checkpoint registry's layout."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import FFMPEG, make_clip
from vidcli.animate import arap, diffusion, files, skeleton
from vidcli.animate.reference import find_pose, read_reference
from vidcli.animate.retarget import limb_lengths, retarget
from vidcli import backends
from vidcli.engine.stage import Artifact, Source, planned_config, resources
from vidcli.errors import ConfigError, InputError
from vidcli.io.frames import write_frames
from vidcli.io.keypoints import KEYPOINTS_NPZ, Keypoints, write_keypoints
from vidcli.io.tracks import Tracks, write_tracks
from vidcli.io.video import iter_frames
from vidcli.models import registry
from vidcli.stages import generate, pose, retarget as retarget_stage

VIDCLI = [sys.executable, "-m", "vidcli"]
RIGHT_ARM = (14, 16, 18, 20, 22)  # BlazePose: right elbow, wrist and hand points
RIGHT_SHOULDER = 12


def ultralytics_image(name: str) -> np.ndarray:
    assets = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"
    return cv2.imread(str(assets / name))


@pytest.fixture(scope="module")
def bus_person(tmp_path_factory) -> Path:
    """The man in the light coat from ultralytics' bus.jpg, at half size (140x355)."""
    path = tmp_path_factory.mktemp("ref") / "bus_person.png"
    cv2.imwrite(str(path), cv2.resize(ultralytics_image("bus.jpg")[250:960, 20:300], (140, 355),
                                      interpolation=cv2.INTER_AREA))
    return path


@pytest.fixture(scope="module")
def bus_pose(bus_person):
    return find_pose(read_reference(bus_person), bus_person.name)


def test_a_reference_with_its_legs_cut_off_is_refused(tmp_path):
    upper = tmp_path / "upper_body.png"
    cv2.imwrite(str(upper), ultralytics_image("bus.jpg")[250:620, 20:300])
    with pytest.raises(InputError, match="upper_body.png: the reference shows only part of the person"):
        find_pose(read_reference(upper), upper.name)


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread (and do not fight over shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def driving_inputs(tmp_path: Path, blazepose: np.ndarray, frames: int, size: tuple[int, int],
                   present=None, arm_turn_deg: float = 120.0) -> dict:
    """Frames, track and keypoints artifacts of a synthetic driving video: the given BlazePose skeleton
    (33, 3), fitted into a `size` canvas, raising its right arm over the frames. `present` marks the
    frames that show the person (all by default)."""
    present = np.ones(frames, bool) if present is None else np.asarray(present)
    width, height = size
    points = blazepose.copy()
    top, bottom = points[:, 1].min(), points[:, 1].max()
    scale = 0.8 * height / (bottom - top)
    points[:, :2] = (points[:, :2] - [points[:, 0].mean(), top]) * scale + [width / 2, 0.1 * height]
    rows = []
    for t in range(frames):
        angle = np.radians(arm_turn_deg * t / max(1, frames - 1))
        rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        frame_points = points.copy()
        centre = frame_points[RIGHT_SHOULDER, :2]
        frame_points[list(RIGHT_ARM), :2] = (frame_points[list(RIGHT_ARM), :2] - centre) @ rotation.T + centre
        rows.append(frame_points)
    shown = np.flatnonzero(present)
    tmp_path.mkdir(parents=True, exist_ok=True)
    black = np.zeros((height, width, 3), np.uint8)
    frames_dir = write_frames(tmp_path / "frames", [black] * frames, fps=10.0)
    (tmp_path / "track").mkdir()
    (tmp_path / "keypoints").mkdir()
    boxes = np.array([[*r[:, :2].min(0), *r[:, :2].max(0)] for r in rows])[shown]
    write_tracks(tmp_path / "track", Tracks(shown, np.full(len(shown), 3), boxes, np.ones(len(shown))))
    write_keypoints(tmp_path / "keypoints" / KEYPOINTS_NPZ, Keypoints(
        shown, np.full(len(shown), 3), np.array(rows)[shown], np.zeros((len(shown), 33, 3))))
    return {"frames": Artifact(frames_dir), "track": Artifact(tmp_path / "track"),
            "keypoints": Artifact(tmp_path / "keypoints")}


def run_stages(tmp_path: Path, ref: Path, driving: dict, generate_config: generate.Config,
               retarget_config=retarget_stage.Config()) -> dict[str, Path]:
    """pose, retarget and generate through their plain `run`; their output folders."""
    out = {name: tmp_path / name for name in ("pose", "retarget", "generate")}
    for folder in out.values():
        folder.mkdir()
    source = Source(ref, "test")
    info = {"pose": pose.run(pose.Config(), {"ref": source, **driving}, out["pose"])}
    info["retarget"] = retarget_stage.run(retarget_config, {"pose": Artifact(out["pose"])}, out["retarget"])
    info["generate"] = generate.run(generate_config, {"ref": source, "pose": Artifact(out["pose"]),
                                                      "retarget": Artifact(out["retarget"])}, out["generate"])
    return out | {"info": info}


# ----- skeletons -----


def test_openpose_keypoints_from_blazepose_and_their_drawing():
    blazepose = np.zeros((33, 3))
    blazepose[:, 2] = 1.0
    blazepose[11, :2], blazepose[12, :2] = (60, 40), (40, 40)  # left and right shoulders
    blazepose[14, :2], blazepose[16, :2] = (30, 60), (30, 80)  # right elbow and wrist
    points = skeleton.from_blazepose(blazepose)
    assert points.shape == (18, 3)
    assert np.allclose(points[skeleton.NECK, :2], (50, 40))
    assert np.allclose(points[2, :2], (40, 40)) and np.allclose(points[5, :2], (60, 40))
    assert np.allclose(points[3, :2], (30, 60)) and np.allclose(points[4, :2], (30, 80))

    only_arm = np.zeros((18, 3))
    only_arm[[1, 2, 3], :] = [(50, 40, 1), (40, 40, 1), (30, 60, 1)]
    image = skeleton.draw(only_arm, (100, 100))
    assert image.shape == (100, 100, 3) and image.dtype == np.uint8
    assert tuple(image[40, 50]) == tuple(skeleton.COLOURS[1])  # the neck joint, full colour on top
    assert tuple(image[50, 35]) == tuple(int(c * 0.6) for c in skeleton.COLOURS[2])  # shoulder-elbow limb
    assert not image[90:, :].any() and not image[:, 70:].any()  # nothing where no limb is


# ----- retargeting -----


def _skeleton(torso: float, arm: float, leg: float, arm_angle: float = 0.0) -> np.ndarray:
    """An upright OpenPose-18 figure with the neck at the origin; the right arm turned by `arm_angle`."""
    points = np.zeros((18, 3))
    points[:, 2] = 1.0
    points[1, :2] = (0, 0)
    points[0, :2] = (0, -0.4 * torso)
    points[[14, 15], :2] = (-0.1 * torso, -0.5 * torso), (0.1 * torso, -0.5 * torso)
    points[[16, 17], :2] = (-0.2 * torso, -0.45 * torso), (0.2 * torso, -0.45 * torso)
    points[2, :2], points[5, :2] = (-0.4 * torso, 0), (0.4 * torso, 0)
    direction = np.array([np.sin(arm_angle), np.cos(arm_angle)])
    points[3, :2] = points[2, :2] + arm * direction
    points[4, :2] = points[3, :2] + arm * direction
    points[6, :2], points[7, :2] = points[5, :2] + (0, arm), points[5, :2] + (0, 2 * arm)
    for hip, knee, ankle, x in ((8, 9, 10, -0.2), (11, 12, 13, 0.2)):
        points[hip, :2] = (x * torso, torso)
        points[knee, :2] = (x * torso, torso + leg)
        points[ankle, :2] = (x * torso, torso + 2 * leg)
    return points


def test_retarget_keeps_the_reference_limb_lengths_and_place():
    reference = _skeleton(torso=100, arm=60, leg=90)
    reference[:, :2] += (300, 200)
    angles = np.linspace(0, np.pi / 2, 6)
    driving = np.array([_skeleton(torso=40, arm=35, leg=30, arm_angle=a) for a in angles])
    driving[:, :, :2] += np.arange(6)[:, None, None] * [4.0, 0.0] + [50, 60]  # walking right
    result = retarget(driving, np.ones(6, bool), reference, np.zeros((6, 18)))
    assert np.allclose(limb_lengths(result.keypoints), limb_lengths(reference)[None], atol=1e-6)
    assert result.anchor == 0 and not result.held.any()
    assert np.allclose(result.keypoints[0, skeleton.NECK, :2], reference[skeleton.NECK, :2])
    assert np.isclose(result.scale, limb_lengths(reference).sum() / limb_lengths(driving[0]).sum())
    shift = result.keypoints[5, skeleton.NECK, :2] - result.keypoints[0, skeleton.NECK, :2]
    assert np.allclose(shift, [20 * result.scale, 0])
    elbow = result.keypoints[:, 3, :2] - result.keypoints[:, 2, :2]  # the arm turns as the driving arm does
    assert np.allclose(np.arctan2(elbow[:, 0], elbow[:, 1]), angles)


def test_retarget_holds_or_interpolates_frames_without_the_person():
    reference = _skeleton(torso=100, arm=60, leg=90)
    driving = np.array([_skeleton(40, 35, 30, arm_angle=a) for a in np.linspace(0, 1.2, 5)])
    present = np.array([False, True, False, False, True])
    held = retarget(driving, present, reference, np.zeros((5, 18)))
    assert held.anchor == 1 and held.held.tolist() == [True, False, True, True, False]
    assert np.allclose(held.keypoints[0], held.keypoints[1])
    assert np.allclose(held.keypoints[3], held.keypoints[1])
    blended = retarget(driving, present, reference, np.zeros((5, 18)), interpolate=True)
    assert np.allclose(blended.keypoints[2], (2 * blended.keypoints[1] + blended.keypoints[4]) / 3)
    with pytest.raises(InputError, match="shows a person"):
        retarget(driving, np.zeros(5, bool), reference, np.zeros((5, 18)))


# ----- ARAP -----


def test_arap_reproduces_the_rest_shape_and_keeps_triangles_rigid_under_a_bend():
    mask = np.zeros((80, 260), bool)
    mask[20:60, 10:250] = True  # a bar 240 x 40
    vertices, triangles = arap.triangulate(mask, spacing=8.0)
    assert len(triangles) > 100
    centroids = vertices[triangles].mean(axis=1).round().astype(int)
    assert mask[centroids[:, 1], centroids[:, 0]].all()
    handles = np.array([(14, 40), (50, 40), (130, 40), (210, 40), (246, 40)], float)
    found, weights = arap.barycentric(handles, vertices, triangles)
    deformer = arap.ArapDeformer(vertices, triangles, found, weights)
    at_rest = deformer.deform(handles, vertices, iterations=5)
    assert np.abs(at_rest - vertices).max() < 1e-6

    angle = np.radians(60)  # bend the right half up around the middle handle
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    targets = handles.copy()
    targets[3:] = (handles[3:] - handles[2]) @ rotation.T + handles[2]
    guess = vertices.copy()
    right = vertices[:, 0] > 130
    guess[right] = (vertices[right] - handles[2]) @ rotation.T + handles[2]
    bent = deformer.deform(targets, guess, iterations=10)

    def edges(points):
        return np.stack([points[triangles[:, 1]] - points[triangles[:, 0]],
                         points[triangles[:, 2]] - points[triangles[:, 0]]], axis=2)

    gradients = edges(bent) @ np.linalg.inv(edges(vertices))  # per triangle, rest -> bent
    stretch = np.abs(np.linalg.svd(gradients, compute_uv=False) - 1)
    assert np.median(stretch) < 0.05 and np.percentile(stretch, 95) < 0.3
    assert np.linalg.norm(bent[np.argmax(vertices[:, 0])] - vertices[np.argmax(vertices[:, 0])]) > 50


# ----- the embedded backend and bad inputs -----


def test_embedded_animation_of_a_real_reference_driven_from_a_wide_video(tmp_path, bus_person, bus_pose):
    driving = driving_inputs(tmp_path, bus_pose.blazepose, frames=6, size=(640, 120))  # 16:3 against 2:5
    config = planned_config(generate, {"backend": "embedded", "max_size": 256})
    out = run_stages(tmp_path, bus_person, driving, config)
    assert out["info"]["generate"].backend == "embedded"
    video = np.array([f.rgb for f in iter_frames(out["generate"] / files.ANIMATION_MP4)])
    assert video.shape == (6, 256, 104, 3)
    summary = json.loads((out["generate"] / files.GENERATE_JSON).read_text())
    assert summary["backend"] == "embedded" and summary["frames"] == 6 and summary["size"] == [104, 256]
    assert len(list((out["pose"] / files.SKELETON_DIR).glob("*.png"))) == 6
    assert (out["retarget"] / files.SKELETON_DIR / "000005.png").is_file()

    retargeting = files.read_retargeting(out["retarget"])
    assert np.allclose(retargeting.keypoints[0, 1, :2], bus_pose.keypoints[1, :2])  # the reference's place
    scale = 256 / 355
    wrist = retargeting.keypoints[:, 4, :2] * scale
    assert np.linalg.norm(wrist[-1] - wrist[0]) > 20  # the right arm rises...
    changed = np.abs(video[-1].astype(int) - video[0].astype(int)).sum(-1) > 60
    hips = int(bus_pose.keypoints[[8, 11], 1].mean() * scale)
    assert changed[:hips].sum() > 200  # ...and the upper body in the picture changes
    knees = int(bus_pose.keypoints[[9, 12], 1].min() * scale)
    assert changed[knees:].sum() < 20  # while the legs stay


def test_one_frame_driving_video_and_missing_frames(tmp_path, bus_person, bus_pose):
    one = driving_inputs(tmp_path / "one", bus_pose.blazepose, frames=1, size=(160, 120))
    small = planned_config(generate, {"backend": "embedded", "max_size": 128})
    out = run_stages(tmp_path / "one", bus_person, one, small)
    assert len(list(iter_frames(out["generate"] / files.ANIMATION_MP4))) == 1

    gaps = driving_inputs(tmp_path / "gaps", bus_pose.blazepose, frames=5, size=(160, 120),
                          present=[False, True, True, False, True])
    out = run_stages(tmp_path / "gaps", bus_person, gaps, small,
                     retarget_stage.Config(missing="interpolate"))
    summary = json.loads((out["retarget"] / files.RETARGET_JSON).read_text())
    assert summary["held_frames"] == [0, 3] and summary["anchor"] == 1
    assert out["info"]["retarget"].counts == {"frames": 5, "held_frames": 2}


def test_rgba_and_greyscale_references(tmp_path, bus_person, bus_pose):
    bgr = cv2.imread(str(bus_person))
    alpha = (bus_pose.mask > 0.5).astype(np.uint8) * 255
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([bgr, alpha]))
    rgba = read_reference(tmp_path / "rgba.png")
    assert rgba.alpha is not None and rgba.rgb.shape == bgr.shape
    rgba_pose = find_pose(rgba, "rgba.png")
    assert np.array_equal(rgba_pose.mask, alpha.astype(np.float32) / 255)  # the alpha is the silhouette

    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    grey = read_reference(tmp_path / "grey.png")
    assert grey.rgb.shape == bgr.shape and grey.alpha is None
    assert np.abs(find_pose(grey, "grey.png").keypoints[:, :2] - bus_pose.keypoints[:, :2]).max() < 25


def test_reference_without_a_person_and_driving_video_without_one(tmp_path, bus_pose):
    wall = np.full((300, 200, 3), 180, np.uint8)
    cv2.imwrite(str(tmp_path / "wall.png"), wall)
    with pytest.raises(InputError, match="no person found in the reference image"):
        find_pose(read_reference(tmp_path / "wall.png"), "wall.png")
    (tmp_path / "not_an_image.png").write_text("hello")
    with pytest.raises(InputError, match="not an image"):
        read_reference(tmp_path / "not_an_image.png")
    with pytest.raises(InputError, match="shows no person"):
        pose.choose_person(np.zeros(0, int), np.zeros((0, 4)), pose.MAIN_PERSON)
    with pytest.raises(ConfigError, match="no person 7; its track ids: 1, 2"):
        pose.choose_person(np.array([1, 2]), np.zeros((2, 4)), 7)
    ids = np.array([1, 1, 1, 2, 2])  # 1 is seen longer, 2 larger: the summed heights decide
    boxes = np.array([[0, 0, 10, 20]] * 3 + [[0, 0, 10, 50]] * 2, float)
    assert pose.choose_person(ids, boxes, pose.MAIN_PERSON) == 2


# ----- backend choice -----


def test_backend_auto_needs_checkpoints_and_a_gpu(monkeypatch):
    monkeypatch.setattr("vidcli.models.registry.is_present", lambda name: name != "sd15")
    monkeypatch.setattr("vidcli.devices.visible_gpu_count", lambda: 1)
    assert planned_config(generate, {}).backend == "embedded"
    monkeypatch.setattr("vidcli.models.registry.is_present", lambda name: True)
    resolved = planned_config(generate, {})
    assert (resolved.backend, resolved.device, resolved.dtype) == ("diffusion", "cuda", "float16")
    assert resources(resolved) == {"gpu": 1}
    monkeypatch.setattr("vidcli.devices.visible_gpu_count", lambda: 0)
    assert planned_config(generate, {}).backend == "embedded"
    forced = planned_config(generate, {"backend": "diffusion"})
    assert (forced.device, forced.dtype) == ("cpu", "float32")
    with pytest.raises(ConfigError, match="float16 needs a GPU"):
        planned_config(generate, {"backend": "diffusion", "dtype": "float16"})
    with pytest.raises(ConfigError, match="overlap"):
        planned_config(generate, {"backend": "diffusion", "window": 8, "overlap": 5})
    max_size = planned_config(generate, {"max_size": 500}).max_size  # not a multiple of 8: sides are rounded
    assert generate.output_size((1000, 500), max_size) == (496, 248)


# ----- the diffusion backend -----


def write_tiny_checkpoints(folder: Path) -> None:
    """Tiny random SD 1.5, ControlNet, motion adapter and IP-Adapter, saved as the registry's hub
    checkpoints are laid out (the components diffusers' own tests use)."""
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, MotionAdapter, UNet2DConditionModel
    from diffusers.models.embeddings import ImageProjection
    from safetensors.torch import save_file
    from transformers import (CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPTokenizer,
                              CLIPVisionConfig, CLIPVisionModelWithProjection)

    width, channels = 8, (8, 8)
    sd = folder / registry.get(diffusion.SD15).filename
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=channels, layers_per_block=2, sample_size=8, in_channels=4,
                                out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=width,
                                norm_num_groups=2)
    unet.save_pretrained(sd / "unet")
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    scheduler.save_pretrained(sd / "scheduler")
    AutoencoderKL(block_out_channels=channels, in_channels=3, out_channels=3, latent_channels=4,
                  norm_num_groups=2, down_block_types=["DownEncoderBlock2D"] * 2,
                  up_block_types=["UpDecoderBlock2D"] * 2).save_pretrained(sd / "vae")
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=width, intermediate_size=16,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=100, max_position_embeddings=16))
    text_encoder.save_pretrained(sd / "text_encoder")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz,":
        vocab[letter], vocab[letter + "</w>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                  model_max_length=16).save_pretrained(sd / "tokenizer")
    CLIPImageProcessor(crop_size=32, size=32).save_pretrained(sd / "feature_extractor")
    (sd / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"]}))
    torch.manual_seed(1)
    ControlNetModel(block_out_channels=channels, layers_per_block=2, in_channels=4, cross_attention_dim=width,
                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), norm_num_groups=1,
                    conditioning_embedding_out_channels=(8, 8)).save_pretrained(
        folder / registry.get(diffusion.CONTROLNET).filename)
    adapter = MotionAdapter(block_out_channels=channels, motion_layers_per_block=2, motion_norm_num_groups=2,
                            motion_num_attention_heads=4)
    adapter.save_pretrained(folder / registry.get(diffusion.MOTION_ADAPTER).filename)
    models = folder / registry.get(diffusion.IP_ADAPTER).filename / diffusion.IP_ADAPTER_SUBFOLDER
    CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=8, projection_dim=8, num_hidden_layers=1,
                                                   num_attention_heads=2, intermediate_size=16, image_size=32,
                                                   patch_size=8)).save_pretrained(models / "image_encoder")
    weights, parameters = {}, dict(unet.named_parameters())
    cross_attention = [name.removesuffix(".processor") for name in unet.attn_processors if "attn2" in name]
    for key, layer in zip(range(1, 2 * len(cross_attention), 2), cross_attention):  # IP-Adapter's numbering
        for projection in ("k", "v"):
            like = parameters[f"{layer}.to_{projection}.weight"]
            weights[f"ip_adapter.{key}.to_{projection}_ip.weight"] = 0.3 * torch.randn_like(like)
    projection = ImageProjection(cross_attention_dim=width, image_embed_dim=8, num_image_text_embeds=4)
    weights.update({"image_proj." + k.replace("image_embeds", "proj"): v.contiguous()
                    for k, v in projection.state_dict().items()})
    save_file(weights, str(models / diffusion.IP_ADAPTER_WEIGHTS))


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("vidcli_home")
    write_tiny_checkpoints(home / "checkpoints")
    return home


@pytest.fixture
def tiny_registry(tiny_home, monkeypatch):
    monkeypatch.setenv("VIDCLI_HOME", str(tiny_home))
    assert backends.get("animation", "diffusion").missing(gpu=False) == []


def test_diffusion_backend_end_to_end_through_the_stages(tmp_path, bus_person, bus_pose,
                                                         tiny_registry, one_thread):
    driving = driving_inputs(tmp_path, bus_pose.blazepose, frames=7, size=(320, 240))
    config = planned_config(generate, {"backend": "diffusion", "device": "cpu", "max_size": 64, "steps": 2,
                                       "window": 4, "overlap": 1})
    out = run_stages(tmp_path, bus_person, driving, config)
    info = out["info"]["generate"]
    assert info.backend == "diffusion" and "lllyasviel/control_v11p_sd15_openpose@unpinned" in info.model  # placed by hand
    video = np.array([f.rgb for f in iter_frames(out["generate"] / files.ANIMATION_MP4)])
    assert video.shape == (7, 64, 24, 3)
    assert json.loads((out["generate"] / files.GENERATE_JSON).read_text())["backend"] == "diffusion"


def test_diffusion_windows_blend_at_the_seams_and_the_seed_decides(tiny_registry, one_thread, monkeypatch):
    settings = planned_config(generate, {"backend": "diffusion", "device": "cpu", "steps": 2, "guidance": 2.0,
                                         "seed": 5, "window": 6, "overlap": 2})
    pipe, _ = diffusion.load_pipeline(settings)
    prompts = diffusion.encode_prompts(pipe, settings)
    reference = (np.random.default_rng(0).random((32, 24, 3)) * 255).astype(np.uint8)
    ref_keypoints = _skeleton(torso=10, arm=5, leg=6) + [12, 6, 0]
    keypoints = np.array([_skeleton(10, 5, 6, arm_angle=a) + [12, 6, 0] for a in np.linspace(0, 2, 10)])

    window_outputs = []
    call = type(pipe).__call__

    def recording(self, *args, **kwargs):
        out = call(self, *args, **kwargs)
        window_outputs.append(out.frames[:, :, 1:].clone())  # without the reference anchor frame
        return out

    monkeypatch.setattr(type(pipe), "__call__", recording)
    latents = diffusion.generate_latents(pipe, reference, ref_keypoints, keypoints, settings, prompts)
    assert latents.shape == (1, 4, 10, 16, 12)
    assert diffusion.windows(10, 6, 2) == [(0, 6), (4, 10)] and len(window_outputs) == 2
    first, second = window_outputs
    assert torch.allclose(latents[:, :, :4], first[:, :, :4])
    assert torch.allclose(latents[:, :, 6:], second[:, :, 2:])
    for k, w in ((4, 2 / 3), (5, 1 / 3)):  # the seam: a linear blend of both windows
        assert torch.allclose(latents[:, :, k], w * first[:, :, k] + (1 - w) * second[:, :, k - 4], atol=1e-6)
    assert not torch.allclose(first[:, :, 4:], second[:, :, :2])

    again = diffusion.generate_latents(pipe, reference, ref_keypoints, keypoints, settings, prompts)
    assert torch.equal(latents, again)
    other = dataclasses.replace(settings, seed=6)
    reseeded = diffusion.generate_latents(pipe, reference, ref_keypoints, keypoints, other, prompts)
    assert not torch.allclose(latents, reseeded)
    frames = list(diffusion.decode(pipe, latents, chunk=4))
    assert len(frames) == 10 and frames[0].shape == (32, 24, 3) and frames[0].dtype == np.uint8


# ----- the command -----


def write_animate_inputs(folder: Path) -> tuple[Path, Path]:
    """(reference image, driving video): a person from bus.jpg, and zidane.jpg with the camera panning."""
    zidane = cv2.resize(ultralytics_image("zidane.jpg"), (480, 270), interpolation=cv2.INTER_AREA)
    frames = folder / "frames"
    frames.mkdir()
    for index in range(5):  # the camera pans a little
        cv2.imwrite(str(frames / f"{index}.png"), np.roll(zidane, 4 * index, axis=1))
    driving = folder / "driving.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-framerate", "5", "-i", str(frames / "%d.png"), "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(driving)], check=True)
    ref = folder / "bus_person.png"
    cv2.imwrite(str(ref), ultralytics_image("bus.jpg")[250:960, 20:300])
    return ref, driving


def test_two_embedded_animations_through_two_workers(tmp_path):
    """A workflow of two animations with two workers: each worker process generates one. The CPU-only
    puppet holds no GPU slot (tests/test_engine_units.py checks the declaration), so the two may run at
    once; whether they overlap in time depends on the machine's load, so that is not asserted. (Through
    the command: Luigi forks its workers, which is safe only from a process that has not loaded the
    models.)"""
    ref, driving = write_animate_inputs(tmp_path)
    mirrored = tmp_path / "mirrored.png"
    cv2.imwrite(str(mirrored), cv2.flip(cv2.imread(str(ref)), 1))
    workflow = tmp_path / "two.yaml"
    workflow.write_text(json.dumps({
        "pipeline": "animate", "workers": 2, "workspace": str(tmp_path / "work"),
        "inputs": [{"driving": str(driving), "ref": str(ref)},
                   {"driving": str(driving), "ref": str(mirrored)}],
        "config": {"generate": {"backend": "embedded", "max_size": 512, "arap_iterations": 20}}}))
    result = subprocess.run(VIDCLI + ["--json", "run", str(workflow)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)["results"]
    spans = [json.loads(open(f"{r['artifact']}/manifest.json").read()) for r in results if r["stage"] == "generate"]
    assert len(spans) == 2 and all(span["backend"]["name"] == "embedded" for span in spans)
    assert spans[0]["key"] != spans[1]["key"] and spans[0]["pid"] != spans[1]["pid"]


def test_animate_command(tmp_path):
    ref, driving = write_animate_inputs(tmp_path)
    out = tmp_path / "animated.mp4"
    workspace = ["--workspace", str(tmp_path / "work")]
    arguments = ["--json", "animate", str(ref), str(driving), "-o", str(out), "--backend", "embedded",
                 "--size", "256"]
    result = subprocess.run(VIDCLI + workspace + arguments,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    statuses = {r["stage"]: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses == dict.fromkeys(["frames", "track", "keypoints", "pose", "retarget", "generate"], "ran")
    assert [f.rgb.shape for f in iter_frames(out)] == [(256, 104, 3)] * 5

    swapped = subprocess.run(VIDCLI + workspace + ["animate", str(driving), str(ref)], capture_output=True,
                             text=True)
    assert swapped.returncode == 3 and "did you swap REF and POSE?" in swapped.stderr
    assert not list((tmp_path / "work").glob("bus_person-*"))  # refused before any stage ran
    missing = subprocess.run(VIDCLI + workspace + ["animate", str(tmp_path / "me.png"), str(driving)],
                             capture_output=True, text=True)
    assert missing.returncode == 3
    assert f"REF (the reference image) {tmp_path / 'me.png'}: no such" in missing.stderr
    plain = subprocess.run(VIDCLI + workspace + ["animate", str(ref), str(driving), "--backend", "embedded",
                                                 "--size", "256"], capture_output=True, text=True)
    assert plain.returncode == 0 and "animation: " in plain.stdout  # says where the video is

    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((300, 200, 3), 180, np.uint8))
    bad = subprocess.run(VIDCLI + workspace + ["animate", str(wall), str(driving)], capture_output=True,
                         text=True)
    assert bad.returncode == 3 and "no person found in the reference image" in bad.stderr
    nobody = make_clip(tmp_path / "pattern.mp4", seconds=0.5)
    bad = subprocess.run(VIDCLI + workspace + ["animate", str(ref), str(nobody)], capture_output=True,
                         text=True)
    assert bad.returncode == 3 and "nobody found in the video's" in bad.stderr
