"""Reading and writing media files: videos through ffmpeg, frame directories, optical-flow files."""
