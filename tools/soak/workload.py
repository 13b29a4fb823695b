"""What the soak's users drop into the bucket: subjects built from real sample photos.

Only real photographs (face3d.samples: scikit-image's astronaut and coffee cup, matplotlib's
Grace Hopper), as users drop them and as they get them wrong: single images, folder sets of one
to three views closed by a manifest, views named by the manifest, photos without a face, text
saved as .jpg, cut-off JPEGs, files over the download cap, images too small, broken manifests,
folders without a front view; and re-uploads, some with other photos, some identical.

Everything is drawn from `random.Random(seed)`: the same seed gives the same subjects.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cache

from PIL import Image

from face3d import samples

# The function's download cap in the soak (MAX_DOWNLOAD_BYTES): the oversized photo is above it.
DOWNLOAD_CAP = 1_000_000
NOT_A_PHOTO = b"Not a photo: a text file that someone saved as a .jpg.\n"


@dataclass(frozen=True)
class Upload:
    key: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Generation:
    """One state of a subject's inputs: uploaded in order, the last upload closes the set."""

    uploads: tuple[Upload, ...]
    expect: str  # "succeeded" or the error code the set should end with (without its view)


@dataclass(frozen=True)
class Reupload:
    """When a generation is dropped after the one before: `gap` seconds after the function
    starts on the earlier set ("racing" its processing) or after it finished ("after" it)."""

    when: str  # "racing" or "after"
    gap: float


@dataclass(frozen=True)
class Subject:
    name: str
    kind: str
    generations: tuple[Generation, ...]
    reuploads: tuple[Reupload, ...] = ()  # one per generation after the first


# The photos, each built once.


@cache
def photo(name: str) -> bytes:
    """A real photo by name; variants are made from the sample photos, never invented."""
    astronaut, grace, coffee = (
        samples.astronaut_jpeg(),
        samples.grace_hopper_jpeg(),
        samples.coffee_jpeg(),
    )
    match name:
        case "astronaut":
            return astronaut
        case "astronaut-400":
            return samples.resized_jpeg(astronaut, 400, 400)
        case "astronaut-mirrored":
            return samples.encode(_mirrored(astronaut), quality=90)
        case "grace":
            return grace
        case "grace-png":
            return samples.grace_hopper_png()
        case "grace-webp":
            return samples.encode(samples.decode(grace), "WEBP", quality=85)
        case "grace-mirrored":
            return samples.encode(_mirrored(grace), quality=90)
        case "coffee":
            return coffee
        case "not-a-photo":
            return NOT_A_PHOTO
        case "cut-off":
            return astronaut[: len(astronaut) // 3]
        case "oversized":
            # A phone-sized photo with grain: over the cap, so refused without a download.
            return samples.with_detail_jpeg(grace, 1800, 2100, seed=7)
        case "too-small":
            return samples.resized_jpeg(astronaut, 150, 150)
    raise ValueError(f"no photo named {name!r}")


def _mirrored(jpeg: bytes) -> Image.Image:
    return samples.decode(jpeg).transpose(Image.Transpose.FLIP_LEFT_RIGHT)


FACES = ("astronaut", "astronaut-400", "astronaut-mirrored", "grace", "grace-mirrored")


def _manifest(**fields: object) -> bytes:
    return json.dumps(fields, sort_keys=True).encode()


# The kinds of subject, and how often each is drawn.


def _single(rng: random.Random, name: str) -> Generation:
    face = rng.choice(FACES)
    extension = rng.choice(["jpg", "jpg", "JPG", "jpeg"])
    return Generation((Upload(f"incoming/{name}.{extension}", photo(face)),), "succeeded")


def _single_converted(rng: random.Random, name: str) -> Generation:
    source, extension = rng.choice([("grace-png", "png"), ("grace-webp", "webp")])
    return Generation((Upload(f"incoming/{name}.{extension}", photo(source)),), "succeeded")


def _folder(rng: random.Random, name: str, views: int) -> Generation:
    folder = f"incoming/{name}/"
    names = ["front", "left", "right"][:views]
    if views == 2 and rng.random() < 0.5:
        names = ["front", "right"]  # the API's image 2 stays empty
    uploads = [Upload(f"{folder}{view}.jpg", photo(rng.choice(FACES))) for view in names]
    rng.shuffle(uploads)  # views arrive in any order; only the manifest closes the set
    options: dict[str, object] = {}
    if rng.random() < 0.5:
        options["metadata"] = {"batch": rng.randrange(100), "source": "make soak"}
    if rng.random() < 0.2:
        options["texture"] = False
    uploads.append(Upload(f"{folder}manifest.json", _manifest(**options)))
    return Generation(tuple(uploads), "succeeded")


def _named_views(rng: random.Random, name: str) -> Generation:
    folder = f"incoming/{name}/"
    front, right = f"IMG_{rng.randrange(1000, 9999)}.jpg", f"IMG_{rng.randrange(1000, 9999)}b.png"
    uploads = (
        Upload(folder + front, photo(rng.choice(FACES))),
        Upload(folder + right, photo("grace-png")),
        Upload(folder + "manifest.json", _manifest(views={"front": front, "right": right})),
    )
    return Generation(uploads, "succeeded")


# The one-photo failures: the photo dropped, and the code its set ends with.
_FAILING_PHOTOS = {
    "no-face": ("coffee", "NO_FACE_FOUND"),
    "not-a-photo": ("not-a-photo", "IMAGE_ERROR_UNSUPPORTED_FORMAT"),
    "cut-off": ("cut-off", "IMAGE_ERROR_UNSUPPORTED_FORMAT"),
    "oversized": ("oversized", "IMAGE_FILE_TOO_LARGE"),
    "too-small": ("too-small", "INVALID_IMAGE_SIZE"),
}


def _failing(name: str, kind: str) -> Generation:
    folder = f"incoming/{name}/"
    if kind in _FAILING_PHOTOS:
        source, code = _FAILING_PHOTOS[kind]
        return Generation((Upload(f"incoming/{name}.jpg", photo(source)),), code)
    match kind:
        case "bad-manifest":
            uploads = (
                Upload(folder + "front.jpg", photo("astronaut")),
                Upload(folder + "manifest.json", b'{"texture": true,'),
            )
            return Generation(uploads, "INVALID_MANIFEST")
        case "no-front":
            uploads = (
                Upload(folder + "left.jpg", photo("grace")),
                Upload(folder + "manifest.json", _manifest()),
            )
            return Generation(uploads, "MISSING_VIEW")
    raise ValueError(kind)


# (kind, weight): about three in four subjects can succeed.
KINDS = (
    ("single", 30), ("single-converted", 6), ("folder-1", 8), ("folder-2", 9), ("folder-3", 8),
    ("named-views", 5), ("no-face", 9), ("not-a-photo", 4), ("cut-off", 3), ("oversized", 3),
    ("too-small", 3), ("bad-manifest", 3), ("no-front", 3),
)  # fmt: skip


def _generation(rng: random.Random, name: str, kind: str) -> Generation:
    match kind:
        case "single":
            return _single(rng, name)
        case "single-converted":
            return _single_converted(rng, name)
        case "folder-1" | "folder-2" | "folder-3":
            return _folder(rng, name, int(kind[-1]))
        case "named-views":
            return _named_views(rng, name)
    return _failing(name, kind)


def _reupload(rng: random.Random, first: Generation) -> Generation:
    """A second generation: the same keys again, identical or with other photos."""
    closing = first.uploads[-1]
    if rng.random() < 0.3:  # the very same bytes again: a duplicate set, same fingerprint
        return Generation((closing,), first.expect)
    if closing.key.endswith("manifest.json"):
        if first.expect != "succeeded":
            return Generation((closing,), first.expect)
        # A view replaced by another photo, then the same manifest again: a new set.
        view = next(u for u in first.uploads if u.key.endswith(".jpg"))  # JPEG for JPEG
        other = next(face for face in FACES if photo(face) != view.data)
        return Generation((Upload(view.key, photo(other)), closing), "succeeded")
    # One image: a user replaces a photo (a face by another, or a failed photo by a good one),
    # or replaces a good photo by one without a face (its older result stays beside error.json).
    if first.expect == "succeeded" and rng.random() < 0.25:
        return Generation((Upload(closing.key, photo("coffee")),), "NO_FACE_FOUND")
    replacement = next(
        face for face in rng.sample(FACES, len(FACES)) if photo(face) != closing.data
    )
    return Generation((Upload(closing.key, photo(replacement)),), "succeeded")


NAMES = ("ada", "Zoë Ada", "grace h", "björk", "test+plus", "林", "o'neil")


def build_subjects(count: int, seed: int, *, reupload_share: float = 0.15) -> list[Subject]:
    """`count` subjects; a share of them are dropped again later (a second generation)."""
    rng = random.Random(seed)  # noqa: S311 (a workload, not cryptography)
    kinds, weights = zip(*KINDS, strict=True)
    subjects = []
    for number in range(1, count + 1):
        kind = rng.choices(kinds, weights)[0]
        # Some names need URL decoding in events (spaces, non-ASCII, '+').
        base = rng.choice(NAMES) if rng.random() < 0.1 else "subject"
        name = f"{base}-{number:04d}"
        generations = [_generation(rng, name, kind)]
        reuploads: list[Reupload] = []
        if rng.random() < reupload_share:
            generations.append(_reupload(rng, generations[0]))
            # Timed by the function's progress, not the clock, so a backlog changes nothing:
            # while the first set is being processed, or soon after it has ended.
            racing = rng.random() < 0.5
            gap = rng.uniform(0.05, 1.0) if racing else rng.uniform(0.0, 2.0)
            reuploads.append(Reupload("racing" if racing else "after", gap))
        subjects.append(Subject(name, kind, tuple(generations), tuple(reuploads)))
    return subjects
