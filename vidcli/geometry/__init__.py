"""Camera geometry: rigid transforms, projection, two-view initialisation and dense bundle adjustment."""

MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation
