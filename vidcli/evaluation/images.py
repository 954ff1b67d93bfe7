"""Image similarity: PSNR and SSIM (Wang et al. 2004) of frames against the truth."""

from __future__ import annotations

import cv2
import numpy as np


def psnr(estimate: np.ndarray, truth: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two arrays of the same shape with values up to `peak`."""
    mse = np.mean((estimate.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak ** 2 / max(mse, 1e-12)))


def ssim(estimate: np.ndarray, truth: np.ndarray, peak: float = 1.0) -> float:
    """Mean SSIM of two HxW or HxWxC images (11 x 11 Gaussian window of sigma 1.5, K1 0.01, K2 0.03),
    averaged over channels."""
    x, y = estimate.astype(np.float64), truth.astype(np.float64)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(image):
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return float(np.mean((2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))))
