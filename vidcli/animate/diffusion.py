"""The diffusion animation backend: diffusers' AnimateDiffControlNetPipeline.

A Stable Diffusion 1.5 UNet with the AnimateDiff motion adapter generates the frames, the
ControlNet-OpenPose model follows the retargeted skeletons and IP-Adapter carries the reference
person's appearance. Long videos are generated in overlapping windows (AnimateAnyone's 24 frames
with 4 shared) whose latents are blended linearly across the shared frames before decoding; every
frame's initial noise is drawn once from the seed, so both windows at a seam start from the same
noise. With `reference_anchor` each window gets the reference image as an extra first frame (with
the reference's skeleton) whose latent is re-imposed, noised to the current step, after every
denoising step: the motion module then carries the reference's appearance into the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidcli.animate import skeleton
from vidcli.errors import ConfigError, StageError
from vidcli.settings import setting

# Registry names of the checkpoints, by role.
SD15 = "sd15"
CONTROLNET = "controlnet_openpose"
MOTION_ADAPTER = "animatediff_motion_adapter"
IP_ADAPTER = "ip_adapter_sd15"
IP_ADAPTER_SUBFOLDER = "models"
IP_ADAPTER_WEIGHTS = "ip-adapter_sd15.safetensors"


@dataclass
class DiffusionOptions:
    """The diffusion backend's settings (the generate stage's config extends them)."""

    steps: int = setting(25, "diffusion: denoising steps", bounds="[1, 1000]")
    guidance: float = setting(7.5, "diffusion: classifier-free guidance scale", bounds="[0, 100]")
    seed: int = setting(0, "diffusion: seed of the initial noise", bounds="[0, 4294967295]")
    window: int = setting(24, "diffusion: frames generated together", bounds="[2, 256]")
    overlap: int = setting(4, "diffusion: frames shared by consecutive windows, blended linearly (at most "
                              "half a window)", bounds="[0, 128]")
    prompt: str = setting("a person, best quality, high detail", "diffusion: text prompt")
    negative_prompt: str = setting("lowres, bad anatomy, bad hands, blurry, worst quality",
                                   "diffusion: negative text prompt")
    ip_adapter_scale: float = setting(0.8, "diffusion: weight of the reference image (IP-Adapter)",
                                      bounds="[0, 10]")
    controlnet_scale: float = setting(1.0, "diffusion: weight of the skeleton conditioning (ControlNet)",
                                      bounds="[0, 10]")
    reference_anchor: bool = setting(True, "diffusion: put the reference image as a pinned first frame into "
                                           "every window")
    dtype: str = setting("auto", "diffusion: number type; auto: float16 on a GPU, float32 on the CPU",
                         choices=("auto", "float16", "float32"))
    device: str = setting("auto", "diffusion: where it runs; auto: cuda when a GPU is visible",
                          significant=False, choices=("auto", "cpu", "cuda"))
    cpu_offload: bool = setting(False, "diffusion: keep models on the CPU until needed (less GPU memory; "
                                       "only with a GPU)", significant=False)

    def check(self) -> None:
        if self.overlap > self.window // 2:
            raise ConfigError(f"overlap must be at most half the window, got window {self.window}, "
                              f"overlap {self.overlap}")
        if self.dtype == "float16" and self.device == "cpu":
            raise ConfigError("float16 needs a GPU (device cuda); use float32 on the CPU")
        if self.cpu_offload and self.device == "cpu":
            raise ConfigError("cpu_offload only applies with device cuda")


def windows(frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """(start, stop) of the windows covering `frames` frames; consecutive ones share `overlap` frames."""
    spans, start = [], 0
    while True:
        stop = min(start + window, frames)
        spans.append((start, stop))
        if stop == frames:
            return spans
        start = stop - overlap


def blend_weights(spans: list[tuple[int, int]], frames: int) -> np.ndarray:
    """(windows, frames) weights summing to 1 per frame: each window ramps linearly in and out over the
    frames it shares with its neighbours."""
    weights = np.zeros((len(spans), frames))
    for i, (start, stop) in enumerate(spans):
        shared_before = spans[i - 1][1] - start if i > 0 else 0
        shared_after = stop - spans[i + 1][0] if i + 1 < len(spans) else 0
        k = np.arange(start, stop)
        ramp_in = np.clip((k - start + 1) / (shared_before + 1), 0, 1)
        ramp_out = np.clip((stop - k) / (shared_after + 1), 0, 1)
        weights[i, start:stop] = ramp_in * ramp_out
    return weights / weights.sum(axis=0, keepdims=True)


def load_pipeline(options: DiffusionOptions):
    """The pipeline from the registry's checkpoints, on its device; and the models, for the manifest."""
    import torch
    from diffusers import AnimateDiffControlNetPipeline, ControlNetModel, DDIMScheduler, MotionAdapter

    from vidcli.models import registry

    folders = {name: registry.checkpoint_path(name)
               for name in (SD15, CONTROLNET, MOTION_ADAPTER, IP_ADAPTER)}
    dtype = getattr(torch, options.dtype)
    controlnet = ControlNetModel.from_pretrained(folders[CONTROLNET], dtype=dtype, use_safetensors=True)
    adapter = MotionAdapter.from_pretrained(folders[MOTION_ADAPTER], dtype=dtype, use_safetensors=True)
    pipe = AnimateDiffControlNetPipeline.from_pretrained(
        folders[SD15], motion_adapter=adapter, controlnet=controlnet, dtype=dtype, use_safetensors=True)
    # AnimateDiff's sampling schedule: DDIM over SD's linear betas, no sample clipping.
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, beta_schedule="linear",
                                               clip_sample=False, timestep_spacing="linspace", steps_offset=1)
    attach_ip_adapter(pipe, folders[IP_ADAPTER], options.ip_adapter_scale)
    if options.cpu_offload:
        pipe.enable_model_cpu_offload(device=options.device)
    else:
        pipe.to(options.device)
    pipe.set_progress_bar_config(disable=True)
    models = "+".join(f"{registry.hub_repo(name)}@{registry.revision(name)}" for name in folders)
    return pipe, models


def attach_ip_adapter(pipe, folder, scale: float) -> None:
    """Load IP-Adapter (h94/IP-Adapter's layout: models/ip-adapter_sd15.safetensors and
    models/image_encoder/) into the pipeline."""
    pipe.load_ip_adapter(str(folder), subfolder=IP_ADAPTER_SUBFOLDER, weight_name=IP_ADAPTER_WEIGHTS,
                         image_encoder_folder="image_encoder", local_files_only=True)
    pipe.set_ip_adapter_scale(scale)


def encode_prompts(pipe, options: DiffusionOptions):
    """(prompt, negative prompt) embeddings from the pipeline's text encoder."""
    import torch

    with torch.no_grad():
        positive, negative = pipe.encode_prompt(options.prompt, pipe._execution_device, 1, True,
                                                options.negative_prompt)
    return positive, negative


def generate_latents(pipe, reference_rgb: np.ndarray, ref_keypoints: np.ndarray, keypoints: np.ndarray,
                     options: DiffusionOptions, prompts):
    """Blended latents (a tensor (1, C, F, h, w)) of the video: the reference (H, W, 3 uint8, at the output
    size) performing the skeletons `keypoints` (F, 18, 3, output pixels); `prompts` from `encode_prompts`."""
    import torch
    from PIL import Image

    height, width = reference_rgb.shape[:2]
    if height % 8 or width % 8:
        raise StageError(f"diffusion: the frame size {width}x{height} is not a multiple of 8")
    frames = len(keypoints)
    longest = options.window + options.reference_anchor
    most = pipe.unet.config.motion_max_seq_length
    if longest > most:
        raise StageError(f"diffusion: windows of {longest} frames (with the reference anchor) exceed the "
                         f"motion module's {most}")
    device = pipe._execution_device
    do_guidance = options.guidance > 1
    reference_pose = Image.fromarray(skeleton.draw(ref_keypoints, (width, height)))
    with torch.no_grad():
        image_embeds = pipe.prepare_ip_adapter_image_embeds(
            [Image.fromarray(reference_rgb)], None, device, 1, do_guidance)

    latent_shape = (1, pipe.unet.config.in_channels, 1, height // pipe.vae_scale_factor,
                    width // pipe.vae_scale_factor)
    generator = torch.Generator("cpu").manual_seed(options.seed)
    anchor_noise = torch.randn(latent_shape, generator=generator)
    noise = torch.cat([torch.randn(latent_shape, generator=generator) for _ in range(frames)], dim=2)
    anchor_latent = _encode_image(pipe, reference_rgb) if options.reference_anchor else None

    spans = windows(frames, options.window, options.overlap)
    weights = torch.from_numpy(blend_weights(spans, frames)).float()
    blended = torch.zeros(latent_shape[:2] + (frames,) + latent_shape[3:])
    positive, negative = prompts
    for index, (start, stop) in enumerate(spans):
        conditioning = [Image.fromarray(skeleton.draw(p, (width, height))) for p in keypoints[start:stop]]
        latents = noise[:, :, start:stop]
        callback = None
        if options.reference_anchor:
            conditioning = [reference_pose] + conditioning
            latents = torch.cat([anchor_noise, latents], dim=2)
            callback = _AnchorCallback(anchor_latent, anchor_noise.to(device))
        with torch.no_grad():
            out = pipe(prompt_embeds=positive, negative_prompt_embeds=negative, num_frames=latents.shape[2],
                       height=height, width=width, num_inference_steps=options.steps,
                       guidance_scale=options.guidance, ip_adapter_image_embeds=image_embeds,
                       conditioning_frames=conditioning, latents=latents.to(device, positive.dtype),
                       controlnet_conditioning_scale=options.controlnet_scale, output_type="latent",
                       callback_on_step_end=callback).frames
        window_latents = out[:, :, 1:] if options.reference_anchor else out
        weight = weights[index, start:stop].view(1, 1, -1, 1, 1)
        blended[:, :, start:stop] += window_latents.float().cpu() * weight
    return blended


def decode(pipe, latents, chunk: int = 8):
    """Yield the frames (H, W, 3 uint8) of blended latents, decoded `chunk` frames at a time."""
    import torch

    vae = pipe.vae
    for start in range(0, latents.shape[2], chunk):
        part = latents[:, :, start:start + chunk].to(pipe._execution_device, vae.dtype)
        with torch.no_grad():
            video = pipe.decode_latents(part, decode_chunk_size=chunk)  # (1, 3, f, H, W) in [-1, 1]
        video = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        yield from video.permute(1, 2, 3, 0).cpu().numpy()


def _encode_image(pipe, rgb: np.ndarray):
    """The VAE latent (1, C, 1, h, w) of an RGB image, scaled as the UNet expects."""
    import torch

    pixels = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        latent = pipe.vae.encode(pixels.to(pipe._execution_device, pipe.vae.dtype)).latent_dist.mean
    return (latent * pipe.vae.config.scaling_factor)[:, :, None]


class _AnchorCallback:
    """After each denoising step, put the reference latent, noised to the next step's level, back into
    frame 0 (the clean latent after the last step)."""

    def __init__(self, latent, noise):
        self.latent, self.noise = latent, noise

    def __call__(self, pipe, step: int, timestep, kwargs: dict) -> dict:
        latents = kwargs["latents"]
        timesteps = pipe.scheduler.timesteps
        latent = self.latent.to(latents.device, latents.dtype)
        if step + 1 < len(timesteps):
            latent = pipe.scheduler.add_noise(latent, self.noise.to(latents.dtype),
                                              timesteps[step + 1:step + 2])
        latents = latents.clone()
        latents[:, :, :1] = latent
        return {"latents": latents}
