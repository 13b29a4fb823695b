"""`make bench`: speed and memory of image preparation and of the offline engine.

Each case is timed against a baseline doing the least work that its job needs, in the same run on
the same inputs, and reported as a ratio, so that the numbers mean the same on any machine:

* preparation vs. one Pillow decode + JPEG encode of the same images (what any re-encoding costs);
* reconstruction vs. MediaPipe Face Mesh alone on the same images (what landmarks cost).

Peak memory is each case's growth of the process's maximum resident set, measured in a fresh
process per case. Nothing is asserted: this prints a table.
"""

from __future__ import annotations

import io
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from PIL import Image

from face3d import samples as photos
from face3d.client.preparation import PreparedImage, SourceImage, prepare_images
from face3d.contract import View

REPEATS = 5


def _inputs(case: str) -> list[bytes]:
    if case == "one 512 px photo":
        return [photos.astronaut_jpeg()]
    if case == "one 6000x8000 photo":
        return [photos.upscaled_48mp_jpeg()]
    if case == "three 12 MP views":
        return list(photos.large_view_jpegs())
    raise ValueError(case)


PREPARATION_CASES = ["one 512 px photo", "one 6000x8000 photo", "three 12 MP views"]
ENGINE_CASES = ["one 512 px photo", "three 12 MP views"]


def _reencode(images: list[bytes]) -> None:
    for data in images:
        out = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=88)


def _prepare(images: list[bytes]) -> None:
    _prepared(images)


def _landmarks_only(images: list[bytes]) -> Callable[[], None]:
    import mediapipe as mp
    import numpy as np

    # As the engine runs it: static images, two faces (to tell MULTIPLE_FACE_FOUND), irises.
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=2, refine_landmarks=True
    )
    pixels = [np.asarray(Image.open(io.BytesIO(d)).convert("RGB")) for d in images]

    def landmarks() -> None:
        for picture in pixels:
            mesh.process(picture)

    return landmarks


def _reconstruct(images: list[bytes]) -> Callable[[], None]:
    from face3d.engine import Engine

    engine = Engine()
    slots = dict(enumerate(images, 1))

    def reconstruct() -> None:
        engine.reconstruct(slots, texture=True, mtl=True)

    return reconstruct


def _median_seconds(work: Callable[[], None]) -> float:
    work()  # warm-up: caches, lazy imports, model loading
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(kind: str, case: str) -> dict[str, float]:
    """One case in this process: the median seconds of the work and of its baseline, and memory."""
    images = _inputs(case)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "preparation":
        work, baseline = (lambda: _prepare(images)), (lambda: _reencode(images))
    else:
        jpegs = [image.jpeg for image in _prepared(images)]
        work, baseline = _reconstruct(jpegs), _landmarks_only(jpegs)
    seconds = _median_seconds(work)
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return {"seconds": seconds, "baseline": _median_seconds(baseline), "peak_mib": peak_mib}


def _prepared(images: list[bytes]) -> list[PreparedImage]:
    sources = [SourceImage(v, d) for v, d in zip(list(View), images, strict=False)]
    return prepare_images(sources)


def main() -> int:
    if len(sys.argv) == 3:  # a child: one case
        print(json.dumps(measure(sys.argv[1], sys.argv[2])))
        return 0
    rows = []
    cases = [("preparation", c) for c in PREPARATION_CASES]
    try:
        import mediapipe  # noqa: F401

        cases += [("engine", c) for c in ENGINE_CASES]
    except ImportError:
        print("(engine cases skipped: the engine extra is not installed)")
    for kind, case in cases:
        answer = subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "bench.run", kind, case],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        result = json.loads(answer.stdout.strip().splitlines()[-1])
        rows.append((kind, case, result))
    baseline_names = {"preparation": "Pillow re-encode", "engine": "Face Mesh alone"}
    print(f"{'work':<12} {'case':<22} {'median':>8} {'baseline':>18} {'ratio':>6} {'peak RSS':>9}")
    for kind, case, r in rows:
        print(
            f"{kind:<12} {case:<22} {r['seconds'] * 1000:>6.0f}ms "
            f"{baseline_names[kind]:>16}={r['baseline'] * 1000:.0f}ms "
            f"{r['seconds'] / r['baseline']:>5.1f}x {r['peak_mib']:>6.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
