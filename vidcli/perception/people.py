"""Finding every person in a video with the single-person BlazePose models.

Per frame, the people seen in the previous frame are followed: the landmark model runs once per
person on the region its last landmarks predict. Where two people overlap, the model following the
one behind often slides onto the one in front, so that both looks find the same person; that person
goes to the one whose last box they fit best, and the other is looked for where their motion predicts
(a robust line through the centres of their recent regions, taken from frames where they overlapped
no one) and beside it. Until found, they stay hidden, looked for so every frame for up to
`max_hidden` frames, and found again once seen enough: a find there counts only when centred near
the prediction and apart from the others' boxes (a find that mixes the two people overlaps the one in
front). (Painting the person in front out of the image does not help: the model is confused by the
painted shape, and that person's silhouette often covers the one behind too.)

New people are searched for with the person detector, which sees a 224-pixel image and so finds
people at least about a third of its input tall. Searches look, in the frame scaled to `detect_size`:

- every `detect_every` frames: at the whole frame, and at TILES_PER_SEARCH of the tiles
  (overlapping squares of the short side, and of 2/3 of it for smaller people) in turn; the
  first search looks at every tile;
- every frame: around the last box of anyone followed from the last frame but not found again,
  and around the boxes where the caller expects people it lost earlier (the tracker's
  predictions), at 1.6 times their height.

People already found are painted out before the detector runs, and regions are searched again
after someone new is found in them, so the detector, whose strongest detection in a region
usually hides the others, reports the next person; this stops at `max_people`.

Someone a search finds is often there before: walking in at the frame's edge or out from behind
someone, they may be seen for up to `detect_every` frames before a search comes. So each person a
search finds is followed backwards through the last `detect_every` frames, the landmark model
looking where the later frame's landmarks say, until it loses them or finds someone already
reported in that frame (`Person.earlier`). Someone a search finds where a hidden person is predicted
continues that person's trail.

A person's silhouette is the landmark model's segmentation within that region and within reach of
their landmarks: the largest connected part and any part at least a tenth its size. (The model
segments everyone in its region, so where people overlap it also covers the other person.)
The box bounds the silhouette, or the visible landmarks when the silhouette is empty.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import cv2
import numpy as np

from vidcli.geometry.boxes import box_iou
from vidcli.perception.blazepose import (
    Landmarks, PoseDetector, PoseLandmarker, Roi,
)

TILES_PER_SEARCH = 2
EXPECTED_SEARCH_SCALE = 1.6  # side of the square searched around an expected box, in box heights
MAX_ROI_SCALE = 3.0  # detections whose region exceeds the searched region this many times are dropped
MASK_THRESHOLD = 0.5
MAX_COVERED = 0.5  # a find that is mostly painted out already is someone found before
MIN_PART = 0.1  # silhouette parts smaller than this share of the largest are dropped
VISIBLE = 0.5
REACH_MARGIN = 0.1  # a silhouette stays within the landmarks' box widened by this share of its size
HEAD_ABOVE_NOSE = 0.6  # the head's top lies this share of the shoulders-to-nose distance beyond the nose
SAME_PERSON = 0.1  # median landmark distance, as a fraction of the box height, below which two finds are one
SAME_BOX = 0.7  # box IoU above which two finds are one
TRAIL_LENGTH = 8  # frames of a person's regions kept to predict where they are while hidden
TRAIL_REACH = 0.25  # a hidden person is found again this share of their region's side from where predicted
TRAIL_SHIFT = 0.2  # a hidden person is also looked for this share of their region's side left and right
APART_IOU = 0.5  # a hidden person found again overlaps everyone else by less box IoU than this
TRAIL_IOU = 0.3  # least IoU of someone a search finds with a hidden person's predicted box to be them


@dataclass
class Person:
    """One person found in one frame."""

    box: np.ndarray  # x1, y1, x2, y2 in pixels
    score: float
    landmarks: Landmarks
    mask: np.ndarray | None  # (H, W) bool silhouette, None when the segmentation found none
    earlier: list[Person] = field(default_factory=list)  # the same person in the frames before, latest first


class Trail:
    """One followed person: where they were seen apart from others (the frame numbers and landmark regions
    of up to TRAIL_LENGTH such finds), their last region and box, and for how many frames they have not
    been found."""

    def __init__(self):
        self.frames: deque[int] = deque(maxlen=TRAIL_LENGTH)
        self.rois: deque[Roi] = deque(maxlen=TRAIL_LENGTH)
        self.last_roi: Roi | None = None
        self.box = np.zeros(4)
        self.hidden = 0

    def see(self, person: Person, frame: int, apart: bool) -> None:
        """Record `person` found in `frame`; `apart`: overlapping no one else found there (only such finds
        predict the motion: one who overlaps someone may be partly the other)."""
        self.last_roi, self.box, self.hidden = person.landmarks.next_roi, person.box, 0
        if apart or not self.rois:
            self.frames.append(frame)
            self.rois.append(person.landmarks.next_roi)

    def predicted(self, frame: int) -> Roi:
        """The region where the person is expected in `frame`: its centre on the robust (Theil-Sen) line
        through the recorded centres, upright, its side the median of the recorded sides."""
        centres = np.array([(roi.cx, roi.cy) for roi in self.rois])
        centre = _theil_sen(np.array(self.frames, float), centres, frame)
        return Roi(*centre, float(np.median([roi.size for roi in self.rois])), 0.0)

    def guesses(self, frame: int) -> list[Roi]:
        """Regions to look for the person in `frame`: the predicted one, and beside it to the left and right
        by TRAIL_SHIFT of its side (people speed up and slow down, and the camera turns)."""
        roi = self.predicted(frame)
        shift = TRAIL_SHIFT * roi.size
        return [roi, replace(roi, cx=roi.cx - shift), replace(roi, cx=roi.cx + shift)]

    def predicted_box(self, frame: int) -> np.ndarray:
        """The last box, moved as the region is predicted to have moved since."""
        predicted = self.predicted(frame)
        dx, dy = predicted.cx - self.last_roi.cx, predicted.cy - self.last_roi.cy
        return self.box + np.array([dx, dy, dx, dy])

    def expects(self, person: Person, frame: int, others: list[Person], min_score: float) -> bool:
        """Whether `person`, found where this trail predicted in `frame`, is its person and none of `others`
        (found there too): confident, their region centred near the predicted one, and their box apart
        from the others' boxes (IoU below APART_IOU), unlike a find that mixes the person in front with
        the one behind. (Whether the others' silhouettes cover them is no test: the silhouette of the
        person in front often covers the one behind too.)"""
        predicted, found = self.predicted(frame), person.landmarks.next_roi
        offset = math.hypot(found.cx - predicted.cx, found.cy - predicted.cy)
        return (person.score >= min_score and offset <= TRAIL_REACH * predicted.size
                and not any(same_person(person, other) for other in others)
                and all(box_iou(person.box[None], other.box[None])[0, 0] < APART_IOU for other in others))


def _theil_sen(frames: np.ndarray, values: np.ndarray, at: float) -> np.ndarray:
    """Where the Theil-Sen line through `values` (N, D) seen at `frames` (N,) is at frame `at`: the median
    of the pairwise slopes, so one wrong value does not bend it."""
    if len(frames) < 2:
        return values[-1]
    first, second = np.triu_indices(len(frames), k=1)
    slope = np.median((values[second] - values[first]) / (frames[second] - frames[first])[:, None], axis=0)
    intercept = np.median(values - slope * frames[:, None], axis=0)
    return intercept + slope * at


class BlazePoseFinder:
    """The embedded person detector: call `find` on the frames of one video, in order."""

    def __init__(self, max_people: int, min_score: float, detect_every: int, detect_size: int,
                 max_hidden: int, landmark_model: str = "full"):
        self.max_people, self.min_score = max_people, min_score
        self.detect_every, self.detect_size, self.max_hidden = detect_every, detect_size, max_hidden
        self._detector = PoseDetector()
        self._landmarker = PoseLandmarker(segmentation=True, model=landmark_model)
        self._trails: list[Trail] = []  # the people followed, and those hidden up to max_hidden frames
        self._frame = 0  # the number of the frame `find` is given next
        self._since_search = math.inf
        self._next_tile = None  # index of the tile the next search starts at; None before the first
        # the frames before this one (latest last), each with the people reported in it
        self._recent: deque[tuple[np.ndarray, list[Person]]] = deque(maxlen=detect_every)

    def find(self, rgb: np.ndarray, expected: np.ndarray) -> list[Person]:
        """Everyone in this frame (the next of the video); `expected` (K, 4): where lost people may be."""
        people, missed = self._follow(rgb)
        followed = list(people)
        self._since_search += 1
        due = self._since_search >= self.detect_every
        if len(people) < self.max_people and (due or missed or len(expected)):
            canvas = _Canvas(rgb, self.detect_size)
            lost = np.concatenate([np.reshape(missed, (-1, 4)), np.reshape(expected, (-1, 4))])
            regions = canvas.around(lost)
            if due:
                regions += [canvas.whole()] + self._turn(canvas.tiles())
                self._since_search = 0
            self._search(rgb, canvas, regions, people)
        for person in people:
            if not any(person is other for other in followed):
                person.earlier = self._trace_back(person)
                self._trail_of(person).see(person, self._frame, apart=self._is_apart(person, people))
        self._recent.append((rgb, list(people)))
        self._frame += 1
        return people

    def close(self) -> None:
        self._detector.close()
        self._landmarker.close()

    def _turn(self, tiles: list[np.ndarray]) -> list[np.ndarray]:
        """Every tile at the first search, then the next TILES_PER_SEARCH in turn."""
        if self._next_tile is None:
            self._next_tile = 0
            return tiles
        chosen = [tiles[(self._next_tile + k) % len(tiles)] for k in range(min(TILES_PER_SEARCH, len(tiles)))]
        self._next_tile = (self._next_tile + len(chosen)) % max(len(tiles), 1)
        return chosen

    def _trace_back(self, person: Person) -> list[Person]:
        """`person` in the recent frames, latest first, for as long as the landmark model finds someone
        confident whom that frame does not hold yet; each find joins its frame's people."""
        found = []
        for rgb, people in reversed(self._recent):
            roi = (found[-1] if found else person).landmarks.next_roi
            before = self._look_in(rgb, [roi], partial(self._is_confident_new, rgb, people))
            if before is None:
                break
            people.append(before)
            found.append(before)
        return found

    def _is_new(self, rgb: np.ndarray, people: list[Person], person: Person) -> bool:
        """Whether `person` is none of `people` (found in the same frame `rgb`) nor mostly covered by them."""
        if not people:
            return True
        if any(same_person(person, other) for other in people):
            return False
        canvas = _Canvas(rgb, self.detect_size)
        for other in people:
            canvas.paint(other)
        return canvas.covered(person) < MAX_COVERED

    def _follow(self, rgb: np.ndarray) -> tuple[list[Person], list[np.ndarray]]:
        """The people of the trails who are found in this frame, and the last boxes of those seen in the last
        frame who are not. Each trail looks where its person's landmarks said last, or where its motion
        says while they are hidden. Where the landmark model slid from one person onto another (two trails
        find one person), the person goes to the trail whose last box they fit best, trails seen in the
        last frame first; the other trail looks again (`_look_again`)."""
        height, width = rgb.shape[:2]
        frame = self._frame
        self._trails = [trail for trail in self._trails if not trail.hidden or (
            trail.hidden <= self.max_hidden and 0 <= trail.predicted(frame).cx < width
            and 0 <= trail.predicted(frame).cy < height)]
        first = [trail.predicted(frame) if trail.hidden else trail.last_roi for trail in self._trails]
        finds = [self._look(rgb, roi) for roi in first]
        fits = [-math.inf if find is None else box_iou(find.box[None], trail.box[None])[0, 0] - trail.hidden
                for find, trail in zip(finds, self._trails)]
        people, missed, found = [], [], []
        for index in np.argsort(fits, kind="stable")[::-1]:
            person, trail = finds[index], self._trails[index]
            if person is not None and (trail.hidden or any(same_person(person, other) for other in people)):
                person = person if trail.expects(person, frame, people, self.min_score) else None
            if person is None and (trail.hidden or people):
                person = self._look_again(rgb, trail, people, first[index])
            if person is None or len(people) >= self.max_people:
                if not trail.hidden:
                    missed.append(trail.box)
                trail.hidden += 1
            else:
                people.append(person)
                found.append(trail)
        for trail, person in zip(found, people):
            trail.see(person, frame, apart=self._is_apart(person, people))
        return people, missed

    def _look_again(self, rgb: np.ndarray, trail: Trail, people: list[Person], looked: Roi) -> Person | None:
        """The person of `trail` whom the first look (at `looked`) missed or found on someone of `people`
        (found in this frame already): the landmark model looks where the trail's motion says and beside
        it. The person is usually hidden in part behind someone, and is found again once seen enough."""
        def accept(person: Person) -> bool:
            return trail.expects(person, self._frame, people, self.min_score)

        return self._look_in(rgb, trail.guesses(self._frame), accept, looked)

    def _trail_of(self, person: Person) -> Trail:
        """The hidden trail whose person `person` (found by a search) is, else a new trail."""
        for trail in self._trails:
            predicted = trail.predicted_box(self._frame)
            if trail.hidden and box_iou(predicted[None], person.box[None])[0, 0] > TRAIL_IOU:
                return trail
        trail = Trail()
        self._trails.append(trail)
        return trail

    @staticmethod
    def _is_apart(person: Person, people: list[Person]) -> bool:
        """Whether the box of `person` overlaps none of the others' in `people`."""
        others = [other.box for other in people if other is not person]
        return not others or not box_iou(person.box[None], np.array(others)).any()

    def _look_in(self, rgb: np.ndarray, rois: list[Roi], accept: Callable, looked: Roi | None = None
                 ) -> Person | None:
        """The first person whom `accept(person)` takes as the landmark model looks in `rois` in turn (but
        in `looked`, done already)."""
        for roi in rois:
            if roi != looked:
                person = self._look(rgb, roi)
                if person is not None and accept(person):
                    return person
        return None

    def _is_confident_new(self, rgb: np.ndarray, people: list[Person], person: Person) -> bool:
        """Whether `person` is confident and none of `people` (found in the same frame `rgb`)."""
        return person.score >= self.min_score and self._is_new(rgb, people, person)

    def _look(self, rgb: np.ndarray, roi: Roi) -> Person | None:
        """The person the landmark model finds in `roi`, if any."""
        landmarks = self._landmarker.landmarks(rgb, roi)
        if landmarks is None:
            return None
        mask = silhouette(landmarks.mask, _intersection(roi.bounds(), reach(landmarks.points)))
        box = mask_box(mask) if mask is not None else landmark_box(landmarks.points, rgb.shape[:2])
        return Person(box, person_score(landmarks.points[:, 2]), landmarks, mask)

    def _add(self, people: list[Person], person: Person | None) -> bool:
        """Add `person` unless it is someone already in `people` (then keep the better scored)."""
        if person is None:
            return False
        for index, other in enumerate(people):
            if same_person(person, other):
                if person.score > other.score:
                    people[index] = person
                return False
        people.append(person)
        return True

    def _search(self, rgb: np.ndarray, canvas: _Canvas, regions: list[np.ndarray],
                people: list[Person]) -> None:
        """Add the people that the detector finds in `regions` of the canvas, searching each region again
        after someone new in it was painted out."""
        for person in people:
            canvas.paint(person)
        pending = regions
        while pending and len(people) < self.max_people:
            proposals = sorted((p for region in pending for p in canvas.detect(self._detector, region)),
                               key=lambda proposal: -proposal[0])
            found = []
            for score, roi in proposals:
                if score < self.min_score or len(people) >= self.max_people:
                    break
                if canvas.is_painted(roi.cx, roi.cy) or not in_view(roi, rgb.shape[:2]):
                    continue  # centred on a painted-out silhouette, or implausible
                person = self._look(rgb, roi)
                if person is not None:  # the detector's region is rough: look again where the landmarks say
                    person = self._look(rgb, person.landmarks.next_roi) or person
                if person is not None and canvas.covered(person) < MAX_COVERED and self._add(people, person):
                    canvas.paint(person)
                    found.append(person.box * canvas.scale)
            pending = [region for region in regions if any(_share(region, box) > 0 for box in found)]


class _Canvas:
    """The frame scaled for the detector, with the people found so far painted out. Regions are
    boxes x1, y1, x2, y2 in canvas pixels."""

    def __init__(self, rgb: np.ndarray, detect_size: int):
        height, width = rgb.shape[:2]
        self.scale = min(1.0, detect_size / max(height, width))
        size = (round(width * self.scale), round(height * self.scale))
        self.image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        self.painted = np.zeros(self.image.shape[:2], bool)

    def whole(self) -> np.ndarray:
        height, width = self.painted.shape
        return np.array([0, 0, width, height], float)

    def tiles(self) -> list[np.ndarray]:
        """Overlapping squares of the canvas's short side and of 2/3 of it (none that is the whole canvas)."""
        height, width = self.painted.shape
        regions = []
        for fraction in (1.0, 2 / 3):
            side = round(min(width, height) * fraction)
            for y in _starts(height, side):
                for x in _starts(width, side):
                    regions.append(np.array([x, y, x + side, y + side], float))
        return [region for region in regions if not np.array_equal(region, self.whole())]

    def around(self, expected: np.ndarray) -> list[np.ndarray]:
        """Squares around the expected boxes that lie mostly in view."""
        regions = []
        for box in np.asarray(expected, float).reshape(-1, 4) * self.scale:
            if _share(self.whole(), box) < 0.5:
                continue
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            half = EXPECTED_SEARCH_SCALE * (box[3] - box[1]) / 2
            regions.append(np.array([cx - half, cy - half, cx + half, cy + half]))
        return regions

    def detect(self, detector: PoseDetector, region: np.ndarray) -> list[tuple[float, Roi]]:
        """The detector's (score, landmark region in frame pixels) within `region` (padded where it leaves the
        canvas), without regions over MAX_ROI_SCALE times its size (what the detector reports for someone
        mostly outside the region is too unsure to keep)."""
        x1, y1, x2, y2 = np.round(region).astype(int)
        height, width = self.painted.shape
        crop = np.full((y2 - y1, x2 - x1, 3), 128, np.uint8)
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if cx2 <= cx1 or cy2 <= cy1:
            return []
        crop[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1] = self.image[cy1:cy2, cx1:cx2]
        s = self.scale
        return [(score, Roi((roi.cx + x1) / s, (roi.cy + y1) / s, roi.size / s, roi.rotation))
                for score, roi in detector.detect(crop) if roi.size <= MAX_ROI_SCALE * max(crop.shape[:2])]

    def _region(self, person: Person) -> np.ndarray:
        """The person's silhouette (else box) at the canvas scale."""
        height, width = self.painted.shape
        if person.mask is not None:
            return cv2.resize(person.mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_AREA) > 0
        region = np.zeros((height, width), bool)
        x1, y1, x2, y2 = np.round(person.box * self.scale).astype(int)
        region[y1:y2, x1:x2] = True
        return region

    def paint(self, person: Person) -> None:
        """Grey out `person`, with a margin."""
        region = cv2.dilate(self._region(person).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        self.image[region] = 128
        self.painted |= region

    def is_painted(self, x: float, y: float) -> bool:
        """Whether frame pixel (x, y) is painted out."""
        column, row = int(x * self.scale), int(y * self.scale)
        height, width = self.painted.shape
        return 0 <= row < height and 0 <= column < width and bool(self.painted[row, column])

    def covered(self, person: Person) -> float:
        """The share of `person` that is already painted out."""
        region = self._region(person)
        return float(self.painted[region].mean()) if region.any() else 1.0


def _starts(length: int, side: int) -> list[int]:
    """Offsets of squares of `side` covering `length` with at least a quarter of a side of overlap."""
    if side >= length:
        return [0]
    count = math.ceil((length - side) / (0.75 * side)) + 1
    return [round(k * (length - side) / (count - 1)) for k in range(count)]


def _share(a: np.ndarray, b: np.ndarray) -> float:
    """The share of box b's area that lies within box a."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0) / max((b[2] - b[0]) * (b[3] - b[1]), 1e-9)


def in_view(roi: Roi, shape: tuple[int, int]) -> bool:
    """Whether a detection's hip centre is within the frame's width and below its top by a tenth of
    the region: people seen from the hips down only are left out, as what the detector reports there
    is nearly always texture at the frame's top or sides. (Hips below the frame are fine: close-ups.)"""
    return 0 <= roi.cx <= shape[1] and roi.cy >= 0.1 * roi.size


def silhouette(probability: np.ndarray | None, window: np.ndarray) -> np.ndarray | None:
    """The person's mask within the box `window` (largest part and parts at least MIN_PART its size)."""
    if probability is None:
        return None
    height, width = probability.shape
    x1, y1, x2, y2 = np.clip(np.round(window), 0, [width, height, width, height]).astype(int)
    if x2 <= x1 or y2 <= y1:
        return None
    inside = (probability[y1:y2, x1:x2] > MASK_THRESHOLD).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inside, connectivity=8)
    if count < 2:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= MIN_PART * areas.max()) + 1
    mask = np.zeros((height, width), bool)
    mask[y1:y2, x1:x2] = np.isin(labels, keep)
    return mask


def reach(points: np.ndarray) -> np.ndarray:
    """The box that can hold a person's pixels: around their landmarks (all, seen or not) and the top of
    their head, widened by REACH_MARGIN of its longer side."""
    nose, shoulders = points[0, :2], points[[11, 12], :2].mean(0)
    corners = np.vstack([points[:, :2], nose + HEAD_ABOVE_NOSE * (nose - shoulders)])
    low, high = corners.min(0), corners.max(0)
    margin = REACH_MARGIN * (high - low).max()
    return np.concatenate([low - margin, high + margin])


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The box where boxes a and b overlap (empty, x2 <= x1 or y2 <= y1, when they do not)."""
    return np.concatenate([np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])])


def mask_box(mask: np.ndarray) -> np.ndarray:
    """The box x1, y1, x2, y2 around the pixels of a non-empty mask."""
    rows, columns = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return np.array([columns[0], rows[0], columns[-1] + 1, rows[-1] + 1], float)


def landmark_box(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The box around the visible landmarks (all of them when none is), widened by a tenth."""
    height, width = shape
    visible = points[points[:, 2] >= VISIBLE, :2]
    if not len(visible):
        visible = points[:, :2]
    low, high = visible.min(0), visible.max(0)
    margin = 0.1 * (high - low).max()
    return np.clip(np.concatenate([low - margin, high + margin]), 0, [width, height, width, height])


def person_score(visibility: np.ndarray) -> float:
    """The mean visibility of the better half of the landmarks: high for a person seen whole or in
    part (a close-up, legs out of view), low when the landmark model is unsure of everything."""
    return float(np.sort(visibility)[len(visibility) // 2:].mean())


def same_person(a: Person, b: Person) -> bool:
    """Whether two finds are one person: their landmarks nearly coincide, or their boxes do (following
    one of two people who overlap, the landmark model may slide onto the other)."""
    distance = np.median(np.linalg.norm(a.landmarks.points[:, :2] - b.landmarks.points[:, :2], axis=1))
    size = max(a.box[3] - a.box[1], b.box[3] - b.box[1], 1.0)
    return distance < SAME_PERSON * size or box_iou(a.box[None], b.box[None])[0, 0] > SAME_BOX
