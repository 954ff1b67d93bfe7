"""CPU rendering: pinhole cameras, a vectorised z-buffer rasterizer and textured scenes."""
