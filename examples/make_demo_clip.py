"""Make a small demo clip: a camera panning across ultralytics' bus.jpg (a real street scene with people).

Usage: python examples/make_demo_clip.py OUT.mp4 [--seconds 4]
"""

import argparse
import importlib.util
import subprocess
from pathlib import Path

import imageio_ffmpeg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    package = importlib.util.find_spec("ultralytics").submodule_search_locations[0]
    image = Path(package) / "assets" / "bus.jpg"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pan = "crop=640:480:x='min(t*40,in_w-640)':y=300"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i", str(image),
         "-t", str(args.seconds), "-vf", pan, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(args.out)],
        check=True,
    )
    print(args.out)


if __name__ == "__main__":
    main()
