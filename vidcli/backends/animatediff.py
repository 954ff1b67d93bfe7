"""The diffusion animator: AnimateDiff with ControlNet-OpenPose on the retargeted skeletons and IP-Adapter
on the reference image, in overlapping windows (`vidcli.animate.diffusion`)."""

from __future__ import annotations


class AnimateDiffAnimator:
    checksum = None

    def __init__(self, config):
        from vidcli.animate import diffusion

        self.config = config
        self.pipe, self.model = diffusion.load_pipeline(config)
        self._counts: dict = {}

    def frames(self, rgb, mask, ref_keypoints, keypoints, depth):
        from vidcli.animate import diffusion

        latents = diffusion.generate_latents(self.pipe, rgb, ref_keypoints, keypoints, self.config,
                                             diffusion.encode_prompts(self.pipe, self.config))
        self._counts = {"frames": len(keypoints)}
        return diffusion.decode(self.pipe, latents)

    def counts(self) -> dict:
        return self._counts
