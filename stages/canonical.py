"""CoDeF fitted to a video: a canonical image plus a temporal deformation field (hash grids and small MLPs in
plain torch), fitted with the reconstruction loss and the flow stage's flow-consistency term. The artifact
holds the model, `canonical.png` (edit it, then `vidcli propagate`), every frame's canonical coordinates,
the reconstructed video and its PSNR per frame. With masks (CoDeF's multi-layer variant) the masked people
get a second layer, with its own deformation and canonical image (`canonical_1.png`). A killed fit resumes
from its last save (every `save_every` steps) and ends exactly where an uninterrupted one with the same
seed would."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from vidcli import backends
from vidcli.engine.stage import RunInfo
from vidcli.errors import ConfigError, InputError
from vidcli.settings import setting

VERSION = 1
INPUTS = ("frames", "flow")
OPTIONAL_INPUTS = ("masks",)  # people's masks (the masks stage, or a masks.json source): their own layer


@dataclass
class Config:
    iterations: int = setting(
        7000,
        "optimisation steps (CoDeF trains 10000 on a GPU); the schedule is in steps, so more iterations "
        "continue a shorter fit",
        bounds="[1, 10000000]",
    )
    batch: int = setting(
        4096, "pixels (rays) per step, drawn at random from every frame", bounds="[1, 1048576]"
    )
    lr: float = setting(0.01, "Adam learning rate at the start", bounds="(0, 1]")
    lr_halving_steps: int = setting(
        2000, "steps between halvings of the learning rate (CoDeF: 2500)", bounds="[1, 10000000]"
    )
    flow_weight: float = setting(
        1.0, "weight of the flow-consistency term (CoDeF's flow_loss); 0 = off", bounds="[0, 1000]"
    )
    anneal_begin: int = setting(
        600,
        "steps before the deformation's finer hash levels start to come in (CoDeF: 4000); a fit shorter "
        "than anneal_begin + anneal_length ends with the finest levels partly off",
        bounds="[0, 10000000]",
    )
    anneal_length: int = setting(
        1400, "steps over which they come in (CoDeF: 4000)", bounds="[1, 10000000]"
    )
    max_size: int = setting(
        480,
        "longest side, in pixels, of the frames the fields are fitted to; 0 = frame size",
        bounds="[0, 8192]",
    )
    levels: int = setting(16, "hash-grid levels of both fields", bounds="[1, 32]")
    canonical_log2_hashmap_size: int = setting(
        18,
        "log2 of the entries per level of the canonical image's hash "
        "grid (CoDeF: 19; each step updates every entry)",
        bounds="[4, 24]",
    )
    deform_log2_hashmap_size: int = setting(
        15, "log2 of the entries per level of the deformation's hash grid (CoDeF: 19)", bounds="[4, 24]"
    )
    base_resolution: int = setting(16, "coarsest hash-grid resolution", bounds="[2, 4096]")
    canonical_scale: float = setting(
        1.44, "resolution ratio between the canonical grid's levels", bounds="(1, 4]"
    )
    deform_scale: float = setting(
        1.38, "resolution ratio between the deformation grid's levels", bounds="(1, 4]"
    )
    deform_hidden_layers: int = setting(8, "hidden layers of the deformation MLP (64 wide)", bounds="[1, 16]")
    seed: int = setting(
        0, "random seed of the initialisation and the pixel batches", bounds="[0, 2147483647]"
    )
    compile: bool = setting(
        True,
        "on a CPU, fuse the hash-grid lookups with torch.compile when a C++ compiler is installed "
        "(the same results up to float rounding, several times faster)",
        significant=False,
    )
    save_every: int = setting(200, "steps between resumable saves", significant=False, bounds="[1, 10000000]")
    device: str = setting(
        "auto",
        "where the fit runs; auto: cuda when a GPU is visible",
        significant=False,
        choices=backends.DEVICES,
    )


def resolve_config(config: Config) -> Config:
    from vidcli.devices import concrete_device

    return replace(config, device=concrete_device(config.device))


def run(config: Config, inputs: dict, out_dir: Path) -> RunInfo:
    import cv2
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from vidcli.canonical import propagate as files
    from vidcli.canonical.fit import FitOptions, Fitter, psnr, reconstruct, render_canonical
    from vidcli.canonical.model import CANONICAL_OFFSET, CANONICAL_SPAN, FieldSizes
    from vidcli.canonical.tcnn_layout import compiler_available
    from vidcli.console import log, progress
    from vidcli.engine.keys import sha256_of
    from vidcli.engine.store import resume_dir_of
    from vidcli.io.frames import FrameSequence
    from vidcli.io.video import VideoWriter, scaled_size

    frames = FrameSequence(inputs["frames"].path)
    if len(frames) < 2:
        raise InputError(f"the video has {len(frames)} frame; a canonical field needs at least 2")
    width, height = scaled_size(*frames.size, config.max_size)
    video = np.stack([frames.read_resized(t, (width, height)) for t in range(len(frames))])
    flows = _forward_flows(Path(inputs["flow"].path), len(frames), (width, height))
    sizes = FieldSizes(
        levels=config.levels,
        canonical_log2_hashmap_size=config.canonical_log2_hashmap_size,
        deform_log2_hashmap_size=config.deform_log2_hashmap_size,
        base_resolution=config.base_resolution,
        canonical_scale=config.canonical_scale,
        deform_scale=config.deform_scale,
        deform_hidden_layers=config.deform_hidden_layers,
    )
    options = FitOptions(
        config.iterations,
        config.batch,
        config.lr,
        config.lr_halving_steps,
        config.flow_weight,
        config.anneal_begin,
        config.anneal_length,
        config.seed,
        config.save_every,
        compile=config.compile and config.device == "cpu" and compiler_available(),
    )
    log.info(
        "canonical: %d frames at %dx%d, %d iterations on %s%s",
        len(frames),
        width,
        height,
        config.iterations,
        config.device,
        " (hash grids compiled)" if options.compile else "",
    )
    layer_map = _layer_map(inputs["masks"].path, len(frames), (width, height)) if "masks" in inputs else None
    fitter = Fitter(
        torch.from_numpy(video).float() / 255.0,
        torch.from_numpy(flows),
        sizes,
        options,
        config.device,
        resume_dir_of(out_dir),
        None if layer_map is None else torch.from_numpy(layer_map).long(),
    )
    started, started_cpu = time.monotonic(), time.process_time()
    with progress("canonical fit", config.iterations) as bar:
        shown = [0]

        def on_step(step):
            bar.advance(step - shown[0])  # a resumed fit starts at its last save
            shown[0] = step

        resumed_from = fitter.run(on_step)
    fit_seconds, fit_cpu_seconds = time.monotonic() - started, time.process_time() - started_cpu

    fitter.model.eval()
    images, deformation = reconstruct(
        fitter.model, len(frames), height, width, fitter.level_weights(), config.device, fitter.layer_map
    )
    per_frame = [psnr(images[t], video[t] / 255.0) for t in range(len(frames))]
    layer_bounds, canonical_sizes = [], []
    for layer in range(fitter.model.layers):
        mine = deformation if layer_map is None else deformation[layer_map == layer]
        bounds = _canonical_bounds(mine, (width, height), CANONICAL_OFFSET, CANONICAL_SPAN)
        canonical_size = (round((bounds[3] - bounds[2]) * width), round((bounds[1] - bounds[0]) * height))
        canonical = render_canonical(fitter.model, bounds, canonical_size, config.device, layer)
        cv2.imwrite(
            str(out_dir / files.canonical_png(layer)),
            cv2.cvtColor((canonical * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR),
        )
        layer_bounds.append(bounds)
        canonical_sizes.append(list(canonical_size))

    save_file(
        {k: v.detach().cpu().contiguous() for k, v in fitter.model.state_dict().items()},
        str(out_dir / files.MODEL_FILE),
        metadata={"vidcli": json.dumps(sizes.__dict__)},
    )
    np.save(out_dir / files.DEFORMATION_NPY, deformation.astype(np.float16))
    if layer_map is not None:
        np.save(out_dir / files.LAYERS_NPY, layer_map)
    (out_dir / files.CANONICAL_JSON).write_text(
        json.dumps(
            {
                "bounds": layer_bounds[0],
                "canonical_size": canonical_sizes[0],
                "layer_bounds": layer_bounds,
                "layer_sizes": canonical_sizes,
                "fit_size": [width, height],
                "frames": len(frames),
                "sizes": sizes.__dict__,
            },
            indent=1,
        )
    )
    (out_dir / files.PSNR_CSV).write_text(
        "frame,psnr\n" + "".join(f"{t},{value:.3f}\n" for t, value in enumerate(per_frame))
    )
    (out_dir / files.CURVE_CSV).write_text(
        "step,loss,batch_psnr\n" + "".join(f"{s},{loss:.6g},{p:.3f}\n" for s, loss, p in fitter.curve)
    )
    with VideoWriter(out_dir / files.RECONSTRUCTION_MP4, frames.fps, (width, height)) as writer:
        for image in images:
            writer.write((image * 255 + 0.5).astype(np.uint8))
    log.info("canonical: PSNR %.2f dB (worst frame %.2f)", float(np.mean(per_frame)), min(per_frame))
    return RunInfo(
        backend="codef",
        model="codef-hash",
        checksum=sha256_of(out_dir / files.MODEL_FILE),
        counts={
            "frames": len(frames),
            "iterations": config.iterations,
            "fit_seconds": round(fit_seconds, 1),
            "fit_cpu_seconds": round(fit_cpu_seconds, 1),  # every thread of the process
            "render_cpu_seconds": round(time.process_time() - started_cpu - fit_cpu_seconds, 1),
            "resumed_from": resumed_from,
            "psnr": round(float(np.mean(per_frame)), 3),
            "min_psnr": round(min(per_frame), 3),
        },
    )


def _forward_flows(flow_dir: Path, count: int, size: tuple[int, int]):
    """Flow from every frame to the next, in pixels of `size`: [count - 1, h, w, 2]."""
    import numpy as np

    from vidcli.io.flow import FlowArtifact, resize_flow

    flow = FlowArtifact(flow_dir)
    if flow.index["step"] != 1:
        raise ConfigError(
            f"the canonical fit needs flow between consecutive frames; flow.step is {flow.index['step']}"
        )
    return np.stack([resize_flow(flow.read(t, t + 1), size) for t in range(count - 1)]).astype(np.float32)


def _layer_map(masks_path: Path, count: int, size: tuple[int, int]):
    """[count, h, w] uint8 at `size`: 1 where any person's mask covers the pixel, else 0 (the background)."""
    import cv2
    import numpy as np

    from vidcli.io.masks import MASKS_JSON, decode, read_masks

    masks = read_masks(masks_path / MASKS_JSON if masks_path.is_dir() else masks_path)
    layers = np.zeros((count, masks["height"], masks["width"]), np.uint8)
    for entry in masks["masks"]:
        if entry["frame"] < count:
            layers[entry["frame"]] |= decode(entry["rle"]).astype(np.uint8)
    return np.stack([cv2.resize(layer, size, interpolation=cv2.INTER_NEAREST) for layer in layers])


def _canonical_bounds(deformation, size, offset: float, span: float) -> list[float]:
    """The canonical coordinates every frame maps into, two pixels wider, within the canonical field's
    span."""
    width, height = size
    rows, cols = deformation[..., 0], deformation[..., 1]
    low, high = -offset, span - offset
    return [
        max(low, float(rows.min()) - 2 / height),
        min(high, float(rows.max()) + 2 / height),
        max(low, float(cols.min()) - 2 / width),
        min(high, float(cols.max()) + 2 / width),
    ]
