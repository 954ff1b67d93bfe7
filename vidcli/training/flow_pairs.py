"""FlyingChairs-style training pairs with exact flow: textured shapes (and photos) under random affine
motions over a moving background; or, closer to FlyingChairs itself, chair-like objects (a back, a seat,
thin legs, shaded in one colour or textured) over a moving photo (`CHAIRS`).

Every layer is a texture with an affine map into each of the two images. The first image is painted
back to front; each pixel's flow is that of the topmost layer covering it there: p -> B A^-1 p - p, with
A and B the layer's maps into the first and second image. Flow is therefore exact everywhere (as in
FlyingChairs, pixels that become hidden or leave the image keep their true motion).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from vidcli.io.flow import write_flo

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp")


@dataclass(frozen=True)
class LayerMotion:
    """How far one kind of layer moves between the two images. The translation's length is log-uniform
    in `shift` (image widths) in a uniform direction, so tiny and large motions are both common, as in
    FlyingChairs and real footage, where most pixels move a pixel or two and a few move tens."""

    shift: tuple[float, float]  # shortest and longest translation, in image widths
    max_rotation: float  # degrees, each way
    max_zoom: float  # log2 of the largest scale change, each way


@dataclass(frozen=True)
class PairOptions:
    width: int = 512
    height: int = 384
    shapes: tuple[int, int] = (3, 8)  # fewest and most foreground shapes
    # The background (a camera's motion) turns and zooms little: FlyingChairs' backgrounds move a pixel or
    # two at 512x384, a rotation of 10 degrees would move its corners by 50 px.
    background: LayerMotion = LayerMotion(shift=(0.0005, 0.03), max_rotation=2.0, max_zoom=0.03)
    foreground: LayerMotion = LayerMotion(shift=(0.002, 0.15), max_rotation=10.0, max_zoom=0.1)
    photo_share: float = 0.5  # probability that a layer's texture is a photo crop (when photos are given)
    # Real footage has textureless and dark regions (walls, sky, shadows) where the images say nothing
    # about the motion; RAFT trained without them invents motion there.
    flat_share: float = 0.0  # probability that a layer is one colour with a faint gradient and grain
    dark_share: float = 0.0  # probability that a layer's texture is darkened 2-8 times (low contrast)
    # FlyingChairs moves a few chairs by 40-80 px at 512x384 (8-15% of the width); small training images
    # under `foreground` alone hardly reach that tail.
    fast_share: float = 0.0  # probability that a foreground object moves by `fast_shift` instead
    fast_shift: tuple[float, float] = (0.15, 0.4)  # its shortest and longest translation, in image widths
    # "shapes": ellipses, polygons and stars; "chairs": chair-like objects with thin legs and holes, most
    # shaded in one colour like FlyingChairs' rendered chairs, over a photo background when photos are given.
    objects: str = "shapes"


# FlyingChairs' make-up (Dosovitskiy et al. 2015): rendered chairs of many sizes, each under its own affine
# motion, over a Flickr photo that moves too (at 512x384 a pixel or two for most of it).
CHAIRS = PairOptions(shapes=(4, 12), objects="chairs", photo_share=1.0,
                     background=LayerMotion(shift=(0.0005, 0.02), max_rotation=1.0, max_zoom=0.02))
STYLES = {"shapes": PairOptions(), "chairs": CHAIRS}  # by the `objects` name


def smooth_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random RGB texture: noise at a few scales, mapped through random colours, sometimes striped."""
    field = np.zeros((height, width), np.float32)
    for sigma in (1.0, 3.0, 9.0, 27.0):
        noise = rng.standard_normal((height, width)).astype(np.float32)
        blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
        field += rng.uniform(0.2, 1.0) * blurred / (blurred.std() + 1e-6)
    if rng.random() < 0.3:
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        field += 1.5 * np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period)
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    stops = rng.uniform(0, 255, (4, 3))
    position = field * (len(stops) - 1)
    lower = np.minimum(position.astype(int), len(stops) - 2)
    weight = (position - lower)[..., None]
    return ((1 - weight) * stops[lower] + weight * stops[lower + 1]).astype(np.uint8)


def _random_affine(rng, centre, motion: LayerMotion, width: int) -> np.ndarray:
    """A 3x3 similarity with a little shear about `centre`: the motion of one layer between the images."""
    angle = np.deg2rad(rng.uniform(-motion.max_rotation, motion.max_rotation))
    zoom = 2 ** rng.uniform(-motion.max_zoom, motion.max_zoom)
    shear = rng.uniform(-0.05, 0.05)
    linear = zoom * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ [[1, shear],
                                                                                                   [0, 1]]
    length = width * np.exp(rng.uniform(*np.log(motion.shift)))
    direction = rng.uniform(0, 2 * np.pi)
    shift = length * np.array([np.cos(direction), np.sin(direction)])
    result = np.eye(3)
    result[:2, :2] = linear
    result[:2, 2] = np.asarray(centre) + shift - linear @ centre
    return result


def _shape_mask(rng, size: int) -> np.ndarray:
    """A filled ellipse, polygon or star on a size x size canvas, anti-aliased (float in [0, 1])."""
    canvas = np.zeros((size * 4, size * 4), np.uint8)
    centre = np.array([size * 2, size * 2])
    kind = rng.integers(3)
    if kind == 0:
        axes = (int(size * 2 * rng.uniform(0.5, 0.95)), int(size * 2 * rng.uniform(0.3, 0.95)))
        cv2.ellipse(canvas, tuple(int(c) for c in centre), axes, rng.uniform(0, 180), 0, 360, 255, -1)
    else:
        corners = rng.integers(3, 9) * (2 if kind == 2 else 1)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = size * 2 * rng.uniform(0.4, 0.95, corners)
        if kind == 2:
            radii[::2] *= 0.45
            angles = np.linspace(0, 2 * np.pi, corners, endpoint=False) + rng.uniform(0, np.pi)
        points = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _chair_mask(rng, size: int) -> np.ndarray:
    """A chair seen from the front or the side, anti-aliased on a size x size canvas: a back (solid, or a
    frame of slats with gaps), a seat and 3-4 thin legs, so that the background shows through its holes."""
    big = size * 4
    canvas = np.zeros((big, big), np.uint8)
    left, right = big * rng.uniform(0.1, 0.35), big * rng.uniform(0.65, 0.9)
    seat_y, seat_depth = big * rng.uniform(0.45, 0.6), big * rng.uniform(0.04, 0.15)
    skew = big * rng.uniform(-0.15, 0.15)  # the seat's far edge, seen from above or below
    top = big * rng.uniform(0.0, 0.25)
    thick = max(2, int(big * rng.uniform(0.015, 0.05)))
    seat = np.array([[left, seat_y], [right, seat_y], [right + skew, seat_y - seat_depth],
                     [left + skew, seat_y - seat_depth]])
    cv2.fillPoly(canvas, [np.round(seat).astype(np.int32)], 255)
    back_left, back_right = left + skew, right + skew
    if rng.random() < 0.5:
        back = np.array([[back_left, top], [back_right, top], [back_right, seat_y - seat_depth],
                         [back_left, seat_y - seat_depth]])
        cv2.fillPoly(canvas, [np.round(back).astype(np.int32)], 255)
    else:  # a frame: top rail and slats
        cv2.rectangle(canvas, (int(back_left), int(top)), (int(back_right), int(top + 3 * thick)), 255, -1)
        for x in np.linspace(back_left, back_right, rng.integers(2, 6)):
            cv2.line(canvas, (int(x), int(top)), (int(x), int(seat_y - seat_depth)), 255, thick)
    bottom = big * rng.uniform(0.85, 1.0)
    feet = [(left, 0), (right, 0), (left + skew, -seat_depth), (right + skew, -seat_depth)]
    for x, dy in feet[: rng.integers(3, 5)]:
        spread = big * rng.uniform(-0.05, 0.05)
        cv2.line(canvas, (int(x), int(seat_y + dy)), (int(x + spread), int(bottom + dy)), 255, thick)
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _shaded_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One colour, often dark, under a linear shading of up to 80 grey levels: the look of a rendered,
    untextured object."""
    colour = rng.uniform(0, 255, 3) * rng.uniform(0.1, 1.0)
    return flat_texture(rng, height, width, max_shading=80.0, colour=colour)


def flat_texture(rng: np.random.Generator, height: int, width: int, max_shading: float = 12.0,
                 colour: np.ndarray | None = None) -> np.ndarray:
    """One colour with a linear shading of at most `max_shading` grey levels and a grain of at most 2: a
    textureless surface, whose motion only its edges tell."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (x * np.cos(angle) + y * np.sin(angle)) / max(height, width)
    colour = rng.uniform(0, 255, 3) if colour is None else colour
    field = colour + rng.uniform(0, max_shading) * ramp[..., None]
    field += rng.uniform(0, 2) * rng.standard_normal((height, width, 1))
    return np.clip(field, 0, 255).astype(np.uint8)


def _texture(rng, height, width, photos: list[np.ndarray], options: PairOptions, background: bool = False):
    # A share of 0 draws nothing, so pairs generated without flat or dark layers keep their seeds' images.
    if options.flat_share and rng.random() < options.flat_share:
        texture = flat_texture(rng, height, width)
    elif options.objects == "chairs" and not background and rng.random() < 0.6:
        texture = _shaded_texture(rng, height, width)  # FlyingChairs' chairs: mostly plain, some textured
    else:
        texture = _surface(rng, height, width, photos, options.photo_share)
    if options.dark_share and rng.random() < options.dark_share:
        texture = (texture * 2 ** rng.uniform(-3, -1)).astype(np.uint8)
    return texture


def _surface(rng, height, width, photos: list[np.ndarray], photo_share: float) -> np.ndarray:
    if photos and rng.random() < photo_share:
        photo = photos[rng.integers(len(photos))]
        scale = max(height / photo.shape[0], width / photo.shape[1]) * rng.uniform(1.0, 1.5)
        size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
        photo = cv2.resize(photo, size)
        y0 = rng.integers(0, photo.shape[0] - height + 1)
        x0 = rng.integers(0, photo.shape[1] - width + 1)
        return photo[y0:y0 + height, x0:x0 + width]
    return smooth_texture(rng, height, width)


def _foreground_motion(rng, options: PairOptions) -> LayerMotion:
    # A share of 0 draws nothing, so pairs generated without fast objects keep their seeds' images.
    if options.fast_share and rng.random() < options.fast_share:
        return replace(options.foreground, shift=options.fast_shift)
    return options.foreground


def generate_pair(rng: np.random.Generator, options: PairOptions = PairOptions(),
                  photos: list[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image1, image2, flow): two HxWx3 uint8 RGB images and the exact HxWx2 float32 flow between them."""
    width, height = options.width, options.height
    margin = width // 4
    pixels = np.stack(np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)),
                      axis=-1)
    images = [np.zeros((height, width, 3), np.float32) for _ in range(2)]
    flow = np.zeros((height, width, 2), np.float32)

    # The background: a texture larger than the image, placed so that it covers both images.
    texture = _texture(rng, height + 2 * margin, width + 2 * margin, list(photos), options, background=True)
    texture = texture.astype(np.float32)
    place = np.array([[1.0, 0, -margin], [0, 1.0, -margin], [0, 0, 1]])
    centre = np.array([width / 2, height / 2])
    layers = [(texture, np.ones(texture.shape[:2], np.float32), place,
               _random_affine(rng, centre, options.background, width) @ place)]
    for _ in range(rng.integers(options.shapes[0], options.shapes[1] + 1)):
        size = int(min(width, height) * rng.uniform(0.15, 0.6))
        mask = _chair_mask(rng, size) if options.objects == "chairs" else _shape_mask(rng, size)
        angle = rng.uniform(0, 2 * np.pi)
        place = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        place[:2, 2] = rng.uniform([0, 0], [width, height]) - place[:2, :2] @ [size / 2, size / 2]
        where = place[:2, :2] @ [size / 2, size / 2] + place[:2, 2]
        motion = _random_affine(rng, where, _foreground_motion(rng, options), width)
        texture = _texture(rng, size, size, list(photos), options).astype(np.float32)
        layers.append((texture, mask, place, motion @ place))

    for texture, mask, first_map, second_map in layers:
        coverage = []
        for image, mapping in zip(images, (first_map, second_map)):
            warp = mapping[:2]
            colour = cv2.warpAffine(texture, warp, (width, height), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT)
            alpha = cv2.warpAffine(mask, warp, (width, height), flags=cv2.INTER_LINEAR)[..., None]
            image *= 1.0 - alpha
            image += alpha * colour
            coverage.append(alpha[..., 0])
        motion = second_map @ np.linalg.inv(first_map)
        moved = pixels @ motion[:2, :2].T + motion[:2, 2]
        on_top = coverage[0] >= 0.5
        flow[on_top] = (moved - pixels)[on_top]
    image1, image2 = (np.clip(np.round(image), 0, 255).astype(np.uint8) for image in images)
    return image1, image2, flow


def load_photos(folder: Path | None) -> list[np.ndarray]:
    """The RGB images of `folder` (none without one), used beside generated textures."""
    if folder is None:
        return []
    photos = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() in PHOTO_SUFFIXES:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                photos.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return photos


def write_pairs(folder: Path, count: int, seed: int, options: PairOptions = PairOptions(),
                photos: list[np.ndarray] = (), progress=None) -> None:
    """Write `count` pairs in FlyingChairs' layout (NNNNNNN-img0.png, -img1.png, -gt.flo); pair i depends only
    on (seed, i), so a longer run extends a shorter one."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image1, image2, flow = generate_pair(np.random.default_rng([seed, index]), options, photos)
        stem = folder / f"{index:07d}"
        cv2.imwrite(f"{stem}-img0.png", cv2.cvtColor(image1, cv2.COLOR_RGB2BGR))
        cv2.imwrite(f"{stem}-img1.png", cv2.cvtColor(image2, cv2.COLOR_RGB2BGR))
        write_flo(f"{stem}-gt.flo", flow)
        if progress is not None:
            progress.advance()
