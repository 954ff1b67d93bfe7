"""Video inpainting: mask inputs, the flow-guided fill, the inpaint and remove pipelines, bad input."""

from __future__ import annotations

import json
import subprocess
import weakref
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FFMPEG, SHARED_DATA, vidcli
from PIL import Image

from vidcli.engine.stage import Artifact, planned_config
from vidcli.errors import ConfigError, InputError
from vidcli.inpaint import flow_guided
from vidcli.inpaint.flow_guided import FlowGuidedFill, FlowGuidedOptions, smooth_fill
from vidcli.inpaint.masks import iter_masks
from vidcli.inpaint.video import FILLED_DIR, HOLES_JSON, filled_filename
from vidcli.io.video import VideoWriter, iter_frames, probe

WIDTH, HEIGHT, FPS, COUNT = 160, 96, 10, 12


def background(seed: int = 0) -> np.ndarray:
    """A smooth random texture with structure at several scales (what flow can follow)."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.random((HEIGHT, WIDTH, 3)).astype(np.float32), (0, 0), 1.5)
    coarse = cv2.resize(
        rng.random((6, 10, 3)).astype(np.float32), (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC
    )
    return (255 * np.clip(0.5 * fine / fine.max() + 0.5 * coarse, 0, 1)).astype(np.uint8)


def square_hole(k: int) -> np.ndarray:
    """A 24x24 square that moves right by 8 pixels a frame."""
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[30:54, 20 + 8 * k : 44 + 8 * k] = True
    return hole


def occluded_video(path, audio: bool = False):
    """A static background with a moving grey square over it, and the square's masks."""
    scene = background()
    silent = path.with_name("silent.mp4") if audio else path
    with VideoWriter(silent, FPS, (WIDTH, HEIGHT), crf=10) as writer:
        for k in range(COUNT):
            frame = scene.copy()
            frame[square_hole(k)] = 128
            writer.write(frame)
    if audio:
        subprocess.run(
            [
                FFMPEG,
                "-v",
                "error",
                "-y",
                "-i",
                str(silent),
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=1.2",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-shortest",
                str(path),
            ],
            check=True,
        )
    return scene


def write_palette_masks(folder, holes, zero_colour=(255, 255, 255)):
    """Palette PNGs as DAVIS writes them, with a non-black colour for index 0 (read by index, not colour)."""
    folder.mkdir()
    for k, hole in enumerate(holes):
        image = Image.fromarray(hole.astype(np.uint8) * 3, mode="P")
        image.putpalette([*zero_colour, 128, 0, 0, 0, 128, 0, 0, 0, 128] + [0] * (3 * 252))
        image.save(folder / f"frame{k}.png")  # natural order: frame2 before frame10
    return folder


def filled_frames(workspace) -> list[np.ndarray]:
    folder = next(workspace.glob(f"*/inpaint/*/{FILLED_DIR}"))
    return [
        cv2.cvtColor(cv2.imread(str(folder / filled_filename(k))), cv2.COLOR_BGR2RGB)
        for k in range(len(list(folder.iterdir())))
    ]


def decoded(path) -> list[np.ndarray]:
    return [frame.rgb for frame in iter_frames(path)]


def test_mask_folder_video_and_image_give_the_same_holes(tmp_path):
    holes = [square_hole(k) for k in range(COUNT)]
    folder = write_palette_masks(tmp_path / "masks", holes)
    assert [m.tolist() for m in iter_masks(folder, COUNT, (WIDTH, HEIGHT))] == [h.tolist() for h in holes]

    with VideoWriter(tmp_path / "masks.mp4", FPS, (WIDTH, HEIGHT)) as writer:
        for hole in holes:
            writer.write(np.repeat(hole[..., None] * np.uint8(255), 3, axis=2))
    from_video = list(iter_masks(tmp_path / "masks.mp4", COUNT, (WIDTH, HEIGHT)))
    assert all((m != h).mean() < 0.005 for m, h in zip(from_video, holes))  # lossy edges only

    grey = np.zeros((HEIGHT, WIDTH), np.uint8)
    grey[holes[0]] = 1  # any non-zero pixel of a lossless image is a hole
    Image.fromarray(grey).save(tmp_path / "one.png")
    fixed = list(iter_masks(tmp_path / "one.png", COUNT, (WIDTH, HEIGHT)))
    assert len(fixed) == COUNT and all(np.array_equal(m, holes[0]) for m in fixed)


def test_masks_of_another_count_or_size_are_refused(tmp_path):
    folder = write_palette_masks(tmp_path / "masks", [square_hole(k) for k in range(COUNT - 1)])
    with pytest.raises(InputError, match=f"11 mask images for a video of {COUNT} frames"):
        list(iter_masks(folder, COUNT, (WIDTH, HEIGHT)))
    Image.fromarray(np.ones((HEIGHT, WIDTH + 2), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(InputError, match=f"mask is {WIDTH + 2}x{HEIGHT}, the video is {WIDTH}x{HEIGHT}"):
        list(iter_masks(tmp_path / "wide.png", COUNT, (WIDTH, HEIGHT)))


class MemoryVideo:
    """What `HoleVideo` offers, from arrays, with the true flow of a static scene."""

    def __init__(self, frames, holes):
        self.frames, self.holes = frames, holes
        self.size = (frames[0].shape[1], frames[0].shape[0])
        self.flow_size = self.size
        self.reads = []

    def __len__(self):
        return len(self.frames)

    def frame(self, i):
        self.reads.append(i)
        return self.frames[i]

    def hole(self, i):
        return self.holes[i]

    def hole_area(self, i):
        return int(self.holes[i].sum())

    def flow(self, i, j):
        return np.zeros((self.size[1], self.size[0], 2), np.float32)


def fill(video, **options) -> list[np.ndarray]:
    out = []
    FlowGuidedFill(FlowGuidedOptions(**options)).run(video, lambda index, rgb: out.append(rgb))
    return out


def test_content_seen_in_other_frames_is_copied_exactly_along_the_flow():
    scene = background()
    holes = [square_hole(k) for k in range(COUNT)]
    frames = [np.where(h[..., None], np.uint8(128), scene) for h in holes]
    out = fill(MemoryVideo(frames, holes), window=5, context=3)
    for k, (frame, hole) in enumerate(zip(out, holes)):
        assert np.abs(frame[hole].astype(int) - scene[hole]).max() <= 1, k


def test_what_no_frame_shows_is_filled_spatially_and_held_still():
    scene = background()
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[30:50, 60:90] = True
    frames = [np.where(hole[..., None], np.uint8(0), scene)] * 6
    out = fill(MemoryVideo(frames, [hole] * 6), window=4, context=2)
    telea = cv2.inpaint(frames[0], hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    assert np.abs(out[0].astype(int) - telea).max() <= 1
    for frame in out[1:]:
        assert np.abs(frame.astype(int) - out[0]).max() <= 1  # no flicker


def test_a_fill_no_frame_shows_follows_its_surroundings_at_the_refresh_share():
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[30:50, 60:90] = True
    frames = [np.where(hole[..., None], 0, np.full((HEIGHT, WIDTH, 3), 50 if k < 3 else 150, np.uint8))
              for k in range(8)]
    held = fill(MemoryVideo(frames, [hole] * 8), window=4, context=2, unseen_refresh=0)
    refreshed = fill(MemoryVideo(frames, [hole] * 8), window=4, context=2, unseen_refresh=0.5)
    for k in range(8):  # Telea leaves a few levels of ripple on a flat image: compare mean levels
        assert np.array_equal(held[k][hole], held[0][hole]), k
        expected = 50 if k < 3 else 150 - 100 * 0.5 ** (k - 2)  # half of the gap closed in every frame
        assert abs(refreshed[k][hole].mean() - expected) <= 1, k
    assert abs(held[7][hole].mean() - 50) <= 1


def test_a_still_camera_fills_every_hole_pixel_with_the_median_of_what_the_video_shows_there():
    scene = background()
    person = (slice(30, 54), slice(60, 84))
    frames = []
    for k in range(12):
        frame = scene.copy()
        if 2 <= k <= 4:  # someone stands there in 3 of the 10 frames that show the spot
            frame[person] = 255
        frames.append(frame)
    holes = [square_hole(0) for _ in range(12)]
    for k in (5, 6):
        holes[k] = np.zeros((HEIGHT, WIDTH), bool)
        holes[k][person] = True
    frames = [np.where(h[..., None], 0, f) for f, h in zip(frames, holes)]
    propagated = fill(MemoryVideo(frames, holes), window=12, context=0, background_frames=0)
    modelled = fill(MemoryVideo(frames, holes), window=12, context=0, background_frames=12,
                    background_scope="holes")
    for k in (5, 6):
        assert np.array_equal(modelled[k][person], scene[person]), k
        carried = np.abs(propagated[k][person].astype(int) - scene[person]).max()
        assert carried > 50, k  # without the model the person is carried on into the hole


def test_a_still_camera_fills_what_the_window_never_shows_with_the_background_and_keeps_propagation():
    """Frames 0-5 always hide the square, frames 6-11 show it: the window [0, 6) never does, so the
    square takes the background model's value; a strip beside it, hidden in frame 0 only, is propagated
    from frame 1, where someone stands, and stays so (the median of the strip, 6 frames of scene
    against 5 of the person, would say scene)."""
    scene = background()
    square, strip = (slice(30, 54), slice(20, 44)), (slice(30, 54), slice(44, 52))
    holes = [np.zeros((HEIGHT, WIDTH), bool) for _ in range(12)]
    for k in range(6):
        holes[k][square] = True
    holes[0][strip] = True
    frames = []
    for k in range(12):
        frame = scene.copy()
        if 1 <= k <= 5:
            frame[strip] = 255
        frames.append(np.where(holes[k][..., None], np.uint8(0), frame))
    options = dict(window=6, context=0, background_frames=12, background_scope="unseen")
    out = fill(MemoryVideo(frames, holes), **options)
    spatial = fill(MemoryVideo(frames, holes), window=6, context=0, background_frames=0)
    for k in range(6):
        assert np.array_equal(out[k][square], scene[square]), k
        assert np.abs(spatial[k][square].astype(int) - scene[square]).max() > 50, k
    assert (out[0][strip] == 255).all()
    every_hole_pixel = fill(MemoryVideo(frames, holes), **{**options, "background_scope": "holes"})
    assert np.array_equal(every_hole_pixel[0][strip], scene[strip])


def test_the_background_model_leaves_out_pixels_whose_observations_disagree():
    scene = background()
    frames = [scene.copy() for _ in range(8)]
    for k in range(0, 8, 2):  # something flickers over the left half of the frame every other frame
        frames[k][:, : WIDTH // 2] += 128  # wraps round: 128 levels from the scene in every channel
    holes = [square_hole(0)] * 8
    _, trusted = flow_guided.background_model(MemoryVideo(frames, holes), 8, still=1.0, spread=5)
    assert not trusted[:, : WIDTH // 2].any()
    assert trusted[:, WIDTH // 2 :].all()


class PanningVideo(MemoryVideo):
    def flow(self, i, j):
        return np.full((self.size[1], self.size[0], 2), (2.0 * (j - i), 0.0), np.float32)


def test_a_moving_camera_gets_no_background_model():
    frames = [background()] * 6
    holes = [square_hole(k) for k in range(6)]
    assert flow_guided.camera_drift(MemoryVideo(frames, holes)) == 0
    assert flow_guided.camera_drift(PanningVideo(frames, holes)) == 10
    assert flow_guided.background_model(PanningVideo(frames, holes), 6, still=1.0) is None
    assert flow_guided.background_model(MemoryVideo(frames, holes), 6, still=1.0) is not None


def test_windows_read_only_their_frames_and_context():
    holes = [square_hole(k % 6) for k in range(30)]
    video = MemoryVideo([background()] * 30, holes)
    fill(video, window=10, context=3)
    windows = 10 + 3 + (3 + 10 + 3) + (3 + 10)  # [0,10) [10,20) [20,30)
    assert len(video.reads) == 30 + windows  # the still camera's background model: 30 frames first


def test_a_window_is_freed_before_the_next_is_read(monkeypatch):
    """Memory independent of the video's length: one window's frames, holes and flows at a time."""
    live, most = weakref.WeakSet(), []

    class CountedWindow(flow_guided._Window):
        def __init__(self, *args):
            most.append(len(live))
            live.add(self)
            super().__init__(*args)

    monkeypatch.setattr(flow_guided, "_Window", CountedWindow)
    fill(MemoryVideo([background()] * 30, [square_hole(k % 6) for k in range(30)]), window=10, context=3)
    assert most == [0, 0, 0]


def test_smooth_fill_keeps_known_values_and_is_continuous_at_the_border():
    field = np.dstack([np.tile(np.linspace(0, 10, 64, dtype=np.float32), (48, 1))] * 2)
    hole = np.zeros((48, 64), bool)
    hole[10:30, 20:40] = True
    filled = smooth_fill(np.where(hole[..., None], 100.0, field).astype(np.float32), hole)
    assert np.array_equal(filled[~hole], field[~hole])
    assert np.abs(filled - field).max() < 1.5  # the hole holds a ramp between its borders' values


def test_inpaint_command_restores_a_static_background_and_keeps_size_rate_and_audio(tmp_path):
    video = tmp_path / "occluded.mp4"
    scene = occluded_video(video, audio=True)
    masks = write_palette_masks(tmp_path / "masks", [square_hole(k) for k in range(COUNT)])
    out = tmp_path / "clean.mp4"
    work = tmp_path / "work"
    result = vidcli(
        "inpaint", str(video), "--masks", str(masks), "--dilate", "2", "-o", str(out), workspace=work
    )
    assert result.returncode == 0, result.stderr
    source, made = probe(video), probe(out)
    assert (made.width, made.height, made.fps) == (source.width, source.height, source.fps)
    filled = filled_frames(work)
    assert len(filled) == len(decoded(out)) == COUNT
    audio = subprocess.run([FFMPEG, "-i", str(out)], capture_output=True, text=True).stderr
    assert "Audio: aac" in audio
    hole_errors = [
        np.abs(f[h].astype(int) - scene[h]).mean()
        for f, h in zip(filled, (square_hole(k) for k in range(COUNT)))
    ]
    telea = np.mean(
        [
            np.abs(cv2.inpaint(f, h.astype(np.uint8), 5, cv2.INPAINT_TELEA)[h].astype(int) - scene[h]).mean()
            for f, h in zip(decoded(video), map(square_hole, range(COUNT)))
        ]
    )
    assert np.mean(hole_errors) < 4 and np.mean(hole_errors) < telea / 3, (hole_errors, telea)


def test_an_empty_mask_passes_the_video_through(tmp_path):
    video = tmp_path / "occluded.mp4"
    occluded_video(video)
    Image.fromarray(np.zeros((HEIGHT, WIDTH), np.uint8)).save(tmp_path / "empty.png")
    work = tmp_path / "work"
    result = vidcli("inpaint", str(video), "--masks", str(tmp_path / "empty.png"), workspace=work)
    assert result.returncode == 0, result.stderr
    frames_dir = next(work.glob("*/frames/*/index.json")).parent
    originals = [cv2.imread(str(p)) for p in sorted(frames_dir.glob("*.jpg"))]
    assert all(
        np.array_equal(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), o)
        for f, o in zip(filled_frames(work), originals, strict=True)
    )


def test_bad_masks_exit_3_with_one_line_and_nothing_written(tmp_path):
    video = tmp_path / "occluded.mp4"
    occluded_video(video)
    short = write_palette_masks(tmp_path / "short", [square_hole(k) for k in range(COUNT - 2)])
    Image.fromarray(np.ones((HEIGHT // 2, WIDTH // 2), np.uint8)).save(tmp_path / "small.png")
    out = tmp_path / "out.mp4"
    for masks, message in (
        (short, "10 mask images for a video of 12 frames"),
        (tmp_path / "small.png", "mask is 80x48, the video is 160x96"),
        (tmp_path / "none", "input not found"),
    ):
        result = vidcli(
            "inpaint", str(video), "--masks", str(masks), "-o", str(out), workspace=tmp_path / "w"
        )
        assert result.returncode == 3, result.stderr
        assert message in result.stderr and not out.exists()
    assert vidcli("remove", str(video), workspace=tmp_path / "w").returncode == 2  # nothing to remove named


def test_track_ids_are_checked():
    from vidcli.stages import holes

    assert planned_config(holes, {"tracks": "1, 3"}).track_ids() == {1, 3}
    with pytest.raises(ConfigError, match="holes.tracks must be comma-separated integers"):
        planned_config(holes, {"tracks": "one"})


def test_remove_people_fills_the_person_with_the_background_behind_them(tmp_path, anny_body):
    from vidcli.render.scene import render
    from vidcli.synth.generate import SynthOptions, Synthesis, synthesize

    options = SynthOptions(duration=1.5, fps=10, width=320, height=180, people=1, camera="static", seed=2)
    video = tmp_path / "walk.mp4"
    synthesize(video, options)
    synthesis = Synthesis(options)
    empty = [render(synthesis.camera(k), synthesis.scene, []).rgb for k in range(options.frames)]
    people = [synthesis.render(k).body >= 0 for k in range(options.frames)]
    work = tmp_path / "work"
    result = vidcli("remove", str(video), "--people", "-o", str(tmp_path / "empty.mp4"), workspace=work)
    assert result.returncode == 0, result.stderr
    filled, originals = filled_frames(work), decoded(video)
    before = np.mean([np.abs(o[p].astype(int) - e[p]).mean() for o, p, e in zip(originals, people, empty)])
    after = np.mean([np.abs(f[p].astype(int) - e[p]).mean() for f, p, e in zip(filled, people, empty)])
    assert after < before / 3, (before, after)


STTN_DATA = Path(__file__).parent / "data" / "sttn"
STTN_MANIFEST = SHARED_DATA.parent / "checkpoints" / "sttn.json"
TINY_STTN = {"channels": 16, "blocks": 2, "patch_sizes": ((16, 12), (8, 6), (4, 4), (2, 2))}


def tiny_sttn(masked_attention=False):
    from safetensors.torch import load_file

    from vidcli.inpaint.sttn import STTN

    network = STTN(**TINY_STTN, masked_attention=masked_attention)
    network.load_state_dict(load_file(STTN_DATA / "tiny_weights.safetensors"), strict=True)
    return network.eval()


@pytest.mark.skipif(not STTN_MANIFEST.is_file(), reason="no STTN key manifest in ../shared/checkpoints")
def test_sttn_has_every_parameter_of_the_released_checkpoint_with_its_shape():
    import torch

    from vidcli.inpaint.sttn import STTN

    with torch.device("meta"):
        state = STTN().state_dict()
    expected = json.loads(STTN_MANIFEST.read_text())["keys"]
    assert {name: list(t.shape) for name, t in state.items()} == expected


@pytest.mark.parametrize("masked", [False, True])
def test_sttn_reproduces_the_authors_code_at_a_tiny_configuration(masked):
    import torch
    from safetensors.torch import load_file

    golden = load_file(STTN_DATA / "tiny_io.safetensors")
    with torch.no_grad():
        output = tiny_sttn(masked)(golden["frames"], golden["holes"])
    expected = golden["output_masked_attention" if masked else "output"]
    assert (output - expected).abs().max() < 1e-4
    if masked:  # the variant really differs from the released behaviour
        assert (expected - golden["output"]).abs().max() > 1e-3


def test_sttn_backend_fills_every_frame_of_a_video_of_any_length_and_size(tmp_path):
    from vidcli import backends
    from vidcli.backends.sttn import STTNInpainter
    from vidcli.stages import inpaint as inpaint_stage

    network = tiny_sttn()
    backends.register(
        backends.Backend(
            "inpainting", "sttn-tiny", lambda config: STTNInpainter(config, network=network, size=(64, 48))
        )
    )
    try:
        frames_dir, holes_dir = hole_video_artifacts(tmp_path, count=23)
        out = tmp_path / "inpaint"
        out.mkdir()
        info = inpaint_stage.run(
            planned_config(inpaint_stage, {"backend": "sttn-tiny", "sttn_references": 2}),
            {"frames": Artifact(frames_dir), "holes": Artifact(holes_dir)},
            out,
        )
    finally:
        backends.unregister("inpainting", "sttn-tiny")
    assert info.counts["groups"] == 5 and info.counts["frames"] == 23
    scene = background()
    for k in range(23):
        filled = cv2.cvtColor(cv2.imread(str(out / FILLED_DIR / filled_filename(k))), cv2.COLOR_BGR2RGB)
        hole = square_hole(k % COUNT)
        assert filled.shape == scene.shape
        assert np.abs(filled[~hole].astype(int) - read_frame(frames_dir, k)[~hole]).max() == 0
        assert not np.array_equal(filled[hole], read_frame(frames_dir, k)[hole])  # the hole was painted


def hole_video_artifacts(tmp_path, count: int):
    """Frames and holes artifacts of the occluded square scene, `count` frames long."""
    from vidcli.io import masks as mask_files
    from vidcli.io.frames import write_frames

    scene = background()
    holes = [square_hole(k % COUNT) for k in range(count)]
    frames_dir = write_frames(
        tmp_path / "frames", [np.where(h[..., None], np.uint8(128), scene) for h in holes], fps=10.0
    )
    holes_dir = tmp_path / "holes"
    holes_dir.mkdir()
    mask_files.write_masks(
        holes_dir / HOLES_JSON,
        WIDTH,
        HEIGHT,
        [{"frame": k, "area": int(h.sum()), "rle": mask_files.encode(h)} for k, h in enumerate(holes)],
    )
    return frames_dir, holes_dir


def read_frame(frames_dir, k):
    from vidcli.io.frames import FrameSequence

    return FrameSequence(frames_dir).read(k)


def write_tiny_inpainting_checkpoint(folder: Path) -> None:
    """A tiny random SD inpainting pipeline (9-channel UNet) in the registry's hub layout."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    channels = (8, 8)
    UNet2DConditionModel(
        block_out_channels=channels,
        layers_per_block=1,
        sample_size=8,
        in_channels=9,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8,
        norm_num_groups=2,
    ).save_pretrained(folder / "unet")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear").save_pretrained(
        folder / "scheduler"
    )
    AutoencoderKL(
        block_out_channels=channels,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
    ).save_pretrained(folder / "vae")
    CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=8,
            intermediate_size=16,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=100,
            max_position_embeddings=16,
        )
    ).save_pretrained(folder / "text_encoder")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz,":
        vocab[letter], vocab[letter + "</w>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16
    ).save_pretrained(folder / "tokenizer")
    (folder / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "StableDiffusionInpaintPipeline",
                "_diffusers_version": "0.42.1",
                "unet": ["diffusers", "UNet2DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "text_encoder": ["transformers", "CLIPTextModel"],
                "tokenizer": ["transformers", "CLIPTokenizer"],
                "scheduler": ["diffusers", "DDIMScheduler"],
                "safety_checker": [None, None],
                "feature_extractor": [None, None],
            }
        )
    )


@pytest.mark.slow  # three tiny pipeline loads: about 2 minutes on 2 busy cores
def test_diffusion_backend_paints_keyframes_and_carries_them_along_the_flow(tmp_path, monkeypatch):
    from vidcli import backends
    from vidcli.models import registry
    from vidcli.stages import inpaint as inpaint_stage

    monkeypatch.setenv("VIDCLI_HOME", str(tmp_path / "home"))
    write_tiny_inpainting_checkpoint(registry.local_path("sd15_inpainting"))
    assert backends.get("inpainting", "diffusion").missing(gpu=False) == []
    count = 8
    scene = background()
    static_hole = np.zeros((HEIGHT, WIDTH), bool)
    static_hole[30:54, 60:90] = True  # never uncovered: only the keyframes' paint can fill it
    frames_dir = tmp_path / "frames"
    from vidcli.io import masks as mask_files
    from vidcli.io.frames import write_frames

    write_frames(frames_dir, [np.where(static_hole[..., None], np.uint8(128), scene)] * count, fps=10.0)
    holes_dir = tmp_path / "holes"
    holes_dir.mkdir()
    mask_files.write_masks(
        holes_dir / HOLES_JSON,
        WIDTH,
        HEIGHT,
        [
            {"frame": k, "area": int(static_hole.sum()), "rle": mask_files.encode(static_hole)}
            for k in range(count)
        ],
    )
    flow_dir = tmp_path / "flow"
    flow_dir.mkdir()
    from vidcli.stages import flow as flow_stage

    flow_stage.run(planned_config(flow_stage, {"backward": True}), {"frames": Artifact(frames_dir)}, flow_dir)

    def paint(seed, name):
        out = tmp_path / name
        out.mkdir()
        settings = {
            "backend": "diffusion",
            "device": "cpu",
            "diffusion_steps": 2,
            "diffusion_size": 64,
            "diffusion_keyframe_step": 4,
            "diffusion_seed": seed,
        }
        info = inpaint_stage.run(
            planned_config(inpaint_stage, settings),
            {"frames": Artifact(frames_dir), "holes": Artifact(holes_dir), "flow": Artifact(flow_dir)},
            out,
        )
        assert info.counts["keyframes"] == 2 and "stable-diffusion-inpainting" in info.model
        return [cv2.imread(str(out / FILLED_DIR / filled_filename(k))).astype(int) for k in range(count)]

    first, again, other = paint(3, "a"), paint(3, "b"), paint(4, "c")
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # seeded
    assert not np.array_equal(first[0], other[0])
    low, high = np.minimum(first[0], first[4]), np.maximum(first[0], first[4])
    for k in (1, 2, 3):  # between keyframes 0 and 4: a blend of their paint, carried along the (zero) flow
        assert ((first[k] >= low - 2) & (first[k] <= high + 2))[static_hole].all()
    assert np.abs(first[0][static_hole] - 128).mean() > 1  # the grey hole was painted over


def test_holes_of_chosen_people_grown_and_with_their_shadows(tmp_path):
    from vidcli.io import masks as mask_files
    from vidcli.io.frames import write_frames
    from vidcli.stages import holes as holes_stage

    frames_dir = write_frames(tmp_path / "frames", [background()] * 2, fps=10.0)
    left, right = np.zeros((HEIGHT, WIDTH), bool), np.zeros((HEIGHT, WIDTH), bool)
    left[20:60, 20:40], right[20:60, 100:120] = True, True
    people = [{"frame": k, "track_id": t, "rle": mask_files.encode(m)} for k in range(2)
              for t, m in ((1, left), (2, right))]
    masks_dir = tmp_path / "masks"
    masks_dir.mkdir()
    mask_files.write_masks(masks_dir / mask_files.MASKS_JSON, WIDTH, HEIGHT, people)

    def holes(**settings):
        out = tmp_path / f"holes{len(list(tmp_path.iterdir()))}"
        out.mkdir()
        holes_stage.run(planned_config(holes_stage, settings),
                        {"frames": Artifact(frames_dir), "masks": Artifact(masks_dir)}, out)
        entries = mask_files.read_masks(out / HOLES_JSON)["masks"]
        return [mask_files.decode(e["rle"]) for e in entries]

    assert all(np.array_equal(h, left | right) for h in holes())
    only_right = holes(tracks="2", dilate=3)[0]
    assert not only_right[:, :60].any()
    assert only_right[17:63, 100:120].all() and only_right[20:60, 97:123].all()
    shadowed = holes(tracks="1", shadows=0.2)[0]
    assert shadowed[60:63, 22:38].all() and not shadowed[70:].any()  # a flat ellipse under the feet


def test_a_folder_is_an_input_only_where_a_stage_reads_folders(tmp_path):
    folder = write_palette_masks(tmp_path / "masks", [square_hole(0)])
    proc = vidcli("flow", str(folder), workspace=tmp_path / "work")  # the flow pipeline takes files only
    assert proc.returncode == 3 and "input is not a file" in proc.stderr.strip().splitlines()[-1]


def test_flow_the_backward_flow_does_not_return_is_left_out_of_the_completion():
    forward = np.full((HEIGHT, WIDTH, 2), (2.0, 0.0), np.float32)
    backward = -forward
    forward[20:40, 20:40] = (20.0, 0.0)  # an estimator's failure beside the hole, which the flow back denies
    hole = np.zeros((HEIGHT, WIDTH), bool)
    hole[20:40, 45:75] = True
    wrong = flow_guided.inconsistent(forward, backward, 0.05)
    assert wrong[20:40, 20:40].all() and wrong.sum() == 400
    assert not flow_guided.inconsistent(forward, backward, 0).any()
    checked = flow_guided.complete_flow(forward, hole | wrong, 0)
    unchecked = flow_guided.complete_flow(forward, hole, 0)
    assert np.abs(checked[hole] - (2.0, 0.0)).max() < 1e-4
    assert np.abs(unchecked[hole] - (2.0, 0.0)).max() > 1


def test_overlapping_windows_complete_each_flow_pair_once(monkeypatch):
    completed = []
    complete = flow_guided.completed_pair
    monkeypatch.setattr(
        flow_guided, "completed_pair",
        lambda video, i, *args: completed.append(i) or complete(video, i, *args)
    )
    fill(MemoryVideo([background()] * 30, [square_hole(k % 6) for k in range(30)]), window=10, context=3)
    assert completed == list(range(29))
