"""Camera geometry: rigid transforms, projection, two-view initialisation and dense bundle adjustment."""
