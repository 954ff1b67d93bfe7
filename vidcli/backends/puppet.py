"""The embedded animator: the reference person as a mesh puppet over the inpainted background, posed per
frame by as-rigid-as-possible deformation pinned at the retargeted joints (`vidcli.animate.puppet`)."""

from __future__ import annotations

import numpy as np


class PuppetAnimator:
    model = None
    checksum = None

    def __init__(self, config):
        self.config = config
        self._counts: dict = {}

    def frames(self, rgb, mask, ref_keypoints, keypoints, depth):
        from vidcli.animate.puppet import Puppet

        puppet = Puppet(rgb, mask, ref_keypoints, self.config.mesh_spacing, self.config.arap_iterations)
        self._counts = {"frames": len(keypoints), "mesh_vertices": len(puppet.rest),
                        "mesh_triangles": len(puppet.triangles)}
        return (puppet.render(puppet.pose(np.asarray(keypoints[t, :, :2])), depth[t])
                for t in range(len(keypoints)))

    def counts(self) -> dict:
        return self._counts
