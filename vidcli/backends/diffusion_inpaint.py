"""Stable Diffusion inpainting (diffusers) on keyframes, carried to the other frames along the flow: the
diffusion inpainting backend.

Every `diffusion_keyframe_step`-th frame with a hole is inpainted by the pipeline (seeded per frame:
`seed + index`), at its longest side `diffusion_size` (multiples of 8), and pasted into its hole at
the video's size. The flow-guided fill (`vidcli.inpaint.flow_guided`) then treats those keyframes as
known frames: their content propagates along the completed flow to the frames between them, and what
it cannot reach is filled from the previous output or spatially. Keyframes are generated when a
window first needs them and kept only while windows still read them.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from vidcli.inpaint.flow_guided import FlowGuidedFill, FlowGuidedOptions

CHECKPOINTS = {"diffusion": "sd15_inpainting", "diffusion_sd2": "sd2_inpainting"}  # backend -> checkpoint


class DiffusionInpainter:
    checksum = None

    def __init__(self, config):
        import torch
        from diffusers import StableDiffusionInpaintPipeline

        from vidcli.models import registry

        name = CHECKPOINTS[config.backend]
        self.model = f"{registry.hub_repo(name)}@{registry.get(name).revision}"
        self._torch, self._config = torch, config
        self._pipe = StableDiffusionInpaintPipeline.from_pretrained(
            registry.checkpoint_path(name),
            safety_checker=None,
            requires_safety_checker=False,
            use_safetensors=True,
        ).to(config.device)
        self._pipe.set_progress_bar_config(disable=True)
        # No background model: the keyframes paint what no frame shows, and the model would read (so paint)
        # keyframes from all over the video, out of the windows' order.
        self._fill = FlowGuidedFill(dataclasses.replace(FlowGuidedOptions.of(config), background_frames=0))
        self._counts = {"keyframes": 0}

    def counts(self) -> dict:
        return {**self._counts, **self._fill.counts}

    def inpaint(self, video, write) -> None:
        self._fill.run(_KeyframesFilled(video, self, self._config), write)

    def generate(self, rgb: np.ndarray, hole: np.ndarray, index: int) -> np.ndarray:
        """`rgb` with its hole painted by the pipeline (seeded by the frame's index)."""
        from PIL import Image

        config = self._config
        height, width = hole.shape
        scale = config.diffusion_size / max(width, height)
        size = (max(8, int(round(width * scale / 8)) * 8), max(8, int(round(height * scale / 8)) * 8))
        generator = self._torch.Generator("cpu").manual_seed(config.diffusion_seed + index)
        result = self._pipe(
            prompt=config.diffusion_prompt,
            negative_prompt=config.diffusion_negative_prompt or None,
            image=Image.fromarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)),
            mask_image=Image.fromarray(
                cv2.resize(hole.astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
            ),
            height=size[1],
            width=size[0],
            num_inference_steps=config.diffusion_steps,
            guidance_scale=config.diffusion_guidance,
            generator=generator,
            output_type="np",
        ).images[0]
        painted = cv2.resize(
            (np.clip(result, 0, 1) * 255).round().astype(np.uint8),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        out = rgb.copy()
        out[hole] = painted[hole]
        self._counts["keyframes"] += 1
        return out


class _KeyframesFilled:
    """A HoleVideo whose keyframes show the pipeline's result and have no hole."""

    def __init__(self, video, inpainter: DiffusionInpainter, config):
        self._video, self._inpainter = video, inpainter
        self._step = config.diffusion_keyframe_step
        self._reach = config.window + 2 * config.context  # how far back a window reads
        self._painted: dict[int, np.ndarray] = {}
        self.size, self.flow_size = video.size, video.flow_size

    def __len__(self) -> int:
        return len(self._video)

    def _is_keyframe(self, i: int) -> bool:
        return i % self._step == 0 and self._video.hole_area(i) > 0

    def frame(self, i: int) -> np.ndarray:
        if not self._is_keyframe(i):
            return self._video.frame(i)
        if i not in self._painted:
            for old in [k for k in self._painted if k < i - self._reach]:  # windows move forwards
                del self._painted[old]
            self._painted[i] = self._inpainter.generate(self._video.frame(i), self._video.hole(i), i)
        return self._painted[i]

    def hole(self, i: int) -> np.ndarray:
        hole = self._video.hole(i)
        return np.zeros_like(hole) if self._is_keyframe(i) else hole

    def hole_area(self, i: int) -> int:
        return 0 if self._is_keyframe(i) else self._video.hole_area(i)

    def flow(self, i: int, j: int) -> np.ndarray:
        return self._video.flow(i, j)
