"""vidcli: videos to 3D human motion, animated characters and edited video, with cached stages."""

__version__ = "0.1.0"
