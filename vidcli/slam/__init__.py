"""Dense monocular SLAM on optical flow: correspondences, keyframe tracking, calibration."""
