"""Settings of the body fit and the world optimisation: declared once here, with their docs and bounds,
and used as they are by the body and world stages (whose configs extend them) and by the solvers.

Kept free of heavy imports: the stage modules read them at plan time.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidcli.settings import setting


@dataclass
class KeypointTerms:
    """How the keypoints enter an energy: robust scales and weights shared by the fit and the world stage."""

    sigma_px: float = setting(8.0, "robust scale of the 2D keypoint residuals, pixels", bounds="(0, 1000]")
    sigma_m: float = setting(0.05, "robust scale of the 3D landmark residuals, metres", bounds="(0, 10]")
    occluded_3d: float = setting(0.25, "weight of a 3D landmark whose visibility is 0 (1 at visibility 1)",
                                 bounds="[0, 1]")
    feet_3d: bool = setting(False, "fit the heels and toes to the 3D landmarks as well as to the pixels "
                                   "(off: BlazePose's 3D feet point 25-30 degrees towards the camera in side "
                                   "views)")


@dataclass
class FitOptions(KeypointTerms):
    """The body-fit energy (`vidcli.mocap.fitting`)."""

    pose_prior: float = setting(0.5, "pull of the joint rotations towards the rest pose", bounds="[0, 1e6]")
    shape_prior: float = setting(10.0, "pull of the shape towards the average body", bounds="[0, 1e6]")
    iterations: int = setting(50, "L-BFGS iterations per solve (three solves per track)", bounds="[1, 10000]")
    pose_prior_2d: float = setting(0.1, "2D-only keypoints (no metric 3D): weight of the pose prior fitted "
                                        "on motion capture", bounds="[0, 1e6]")
    sigma_px_2d: float = setting(20.0, "2D-only keypoints: robust scale of the 2D residuals, pixels (wider "
                                       "than sigma_px: with no 3D term, saturated residuals would stop "
                                       "pulling)",
                                 bounds="(0, 1000]")
    accel_sigma_2d: float = setting(0.1, "2D-only keypoints: joint acceleration (m per frame^2) costing as "
                                         "much as a keypoint off by sigma_px_2d", bounds="(0, 100]")


@dataclass
class WorldOptions(KeypointTerms):
    """The world optimisation (`vidcli.mocap.world`)."""

    max_gap: int = setting(15, "missing frames in a track that are interpolated; longer gaps split it",
                           bounds="[0, 100000]")
    contact_height: float = setting(0.08, "a fitted heel or toe this close to the ground (m) and slow is "
                                          "in contact; sole points this close to a person's lowest then are "
                                          "ground candidates", bounds="(0, 10]")
    contact_speed: float = setting(0.6, "a heel or toe moving slower than this (m/s), in the fit or as its "
                                        "keypoint moves against the world, is in contact", bounds="(0, 100]")
    contact_gap: int = setting(1, "a heel or toe in contact on both sides of at most this many frames stays "
                                  "in contact through them", bounds="[0, 1000]")
    up_upright_deg: float = setting(10.0, "a person's up direction this far (degrees) from gravity's counts "
                                          "exp(-1/2) as much as one along it", bounds="(0, 180]")
    up_still_deg_s: float = setting(60.0, "a person's up direction turning this fast (degrees/s) counts "
                                          "exp(-1/2) as much as a still one", bounds="(0, 1e6]")
    camera_up_frames: float = setting(60.0, "the camera's up (image up) counts as this many frames of an "
                                            "upright, still person", bounds="[0, 1e9]")
    level_roll_deg: float = setting(2.0, "prior scale of the camera's roll: its image x axis is level",
                                    bounds="(0, 90]")
    up_spread_deg: float = setting(10.0, "prior scale of gravity's distance from the people's and camera's "
                                         "up, against the camera's level", bounds="(0, 180]")
    camera_height: float = setting(1.4, "the camera's usual height above the ground (m) as the feet's "
                                        "landmarks and gravity's estimate measure it (a camera at eye level "
                                        "comes out lower); 0 leaves the scene at average people's size",
                                   bounds="[0, 100]")
    camera_height_weight: float = setting(0.5, "how much the camera's height rather than the people's "
                                               "average size sets the scene's scale (0: the people alone)",
                                          bounds="[0, 1]")
    feet_on_ground: bool = setting(True, "resize each person about the camera so that their feet stand "
                                         "on the ground that everyone's define")
    smooth: float = setting(1.0, "weight of the motion prior's terms", bounds="[0, 1e6]")
    root_accel_sigma: float = setting(10.0, "pelvis acceleration (m/s^2) as costly as a landmark off by "
                                            "sigma", bounds="(0, 1e6]")
    limb_accel_sigma: float = setting(50.0, "the same for the joints relative to the pelvis",
                                      bounds="(0, 1e6]")
    skate_sigma: float = setting(0.005, "slide along the ground per frame (m) of a heel or toe in contact "
                                        "costing as much", bounds="(0, 10]")
    ground_sigma: float = setting(0.01, "depth (m) of a heel or toe below the ground costing as much",
                                  bounds="(0, 10]")
    shape_consistency: float = setting(10.0, "pull of the shape towards the body stage's", bounds="[0, 1e6]")
    pose_consistency: float = setting(1.0, "pull of the joint rotations towards the body stage's",
                                      bounds="[0, 1e6]")
    iterations: int = setting(80, "L-BFGS iterations of each of the two passes per segment",
                              bounds="[1, 10000]")
