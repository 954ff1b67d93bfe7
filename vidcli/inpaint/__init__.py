"""Video inpainting: reading hole masks, the video with its holes as backends see it, and the
flow-guided filling of the embedded backend."""
