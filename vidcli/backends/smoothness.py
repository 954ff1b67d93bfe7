"""The embedded motion prior: penalties on the accelerations of the pelvis and of the joints relative to
it, which real motion keeps small and per-frame fits do not."""

from __future__ import annotations


class SmoothnessPrior:
    model = None
    checksum = None

    def __init__(self, config, fps: float):
        self.weight = config.smooth
        self.root_sigma, self.limb_sigma = config.root_accel_sigma / fps**2, config.limb_accel_sigma / fps**2

    def contacts(self, root, joints, local):
        return None

    def energy(self, root, joints, consecutive, local=None):
        from vidcli.mocap.objectives import acceleration_term

        return self.weight * (acceleration_term(root, consecutive, self.root_sigma)
                              + acceleration_term(joints - joints[:, :1], consecutive, self.limb_sigma))
