"""Synthetic videos with exact ground truth: scene, people, camera paths, renderer loop."""
