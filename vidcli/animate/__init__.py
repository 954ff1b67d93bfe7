"""Character animation: a reference image of a person performs the motion of a driving video.

`skeleton` (OpenPose-18 keypoints and their ControlNet drawing), `reference` (reading the reference
image, its pose and silhouette), `retarget` (driving skeleton onto the reference body), `arap` and
`puppet` (the embedded backend: an as-rigid-as-possible mesh puppet), `diffusion` (AnimateDiff with
ControlNet-OpenPose and IP-Adapter), `files` (the artifacts of the pose, retarget and generate stages).
"""
