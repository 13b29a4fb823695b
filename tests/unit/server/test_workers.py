"""`face3d serve --workers N`: engine worker processes, each with its own engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from face3d.engine import EngineError
from face3d.errors import NO_FACE_FOUND
from face3d.server.workers import EngineWorkers, WorkerDied, default_worker_count
from tests import photos

pytestmark = pytest.mark.engine
pytest.importorskip("mediapipe", reason="engine workers load the engine extra")


@pytest.fixture(scope="module")
def workers() -> Iterator[EngineWorkers]:
    pool = EngineWorkers(2)
    try:
        yield pool
    finally:
        pool.close()


def test_workers_give_the_bytes_one_engine_gives(workers: EngineWorkers) -> None:
    from face3d.engine import Engine

    images = {1: photos.astronaut_jpeg()}
    with Engine() as engine:
        expected = engine.reconstruct(images, texture=True, mtl=True)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda _: workers.reconstruct(images, texture=True, mtl=True), range(4))
        )

    assert results == [expected] * 4


def test_a_refusal_keeps_its_code_and_slot(workers: EngineWorkers) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    coffee = photos.encode(photos.Image.fromarray(skimage_data.coffee()), quality=90)

    with pytest.raises(EngineError) as caught:
        workers.reconstruct({1: photos.astronaut_jpeg(), 2: coffee}, texture=False, mtl=False)

    assert (caught.value.code, caught.value.slot) == (NO_FACE_FOUND, 2)


def test_a_worker_that_dies_fails_its_call_and_is_replaced() -> None:
    pool = EngineWorkers(1)
    try:
        [worker] = pool._workers
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)

        with pytest.raises(WorkerDied):
            pool.reconstruct({1: photos.astronaut_jpeg()}, texture=False, mtl=False)
        result = pool.reconstruct({1: photos.astronaut_jpeg()}, texture=False, mtl=False)

        assert result.obj.startswith(b"v ") or b"\nv " in result.obj
        assert pool._workers[0].pid != worker.pid
    finally:
        pool.close()
    assert all(not w._process.is_alive() for w in pool._workers)


def test_a_replacement_too_slow_to_start_is_stopped_and_answers_stay_with_their_calls() -> None:
    astronaut, hopper = {1: photos.astronaut_jpeg()}, {1: photos.grace_hopper_jpeg()}
    pool = EngineWorkers(1)
    try:
        [worker] = pool._workers
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        pool._start_timeout = 0.01  # the replacement cannot load its engine in time

        with pytest.raises(WorkerDied):
            pool.reconstruct(astronaut, texture=False, mtl=False)
        [slow] = pool._workers
        assert not slow._process.is_alive()

        pool._start_timeout = 180.0
        with pytest.raises(WorkerDied):  # the stopped replacement fails the next call, once
            pool.reconstruct(astronaut, texture=False, mtl=False)
        # Each answer is its own call's, not the one before it.
        answers = [
            pool.reconstruct(images, texture=False, mtl=False) for images in (hopper, astronaut)
        ]
        assert answers[0] != answers[1]
        assert pool.reconstruct(astronaut, texture=False, mtl=False) == answers[1]
    finally:
        pool.close()


def test_one_worker_per_core_by_default() -> None:
    assert default_worker_count() == len(os.sched_getaffinity(0))


_ALLOCATE_AND_FREE = """
import resource, sys
if sys.argv[1] == "keep":
    from face3d.server.workers import keep_freed_memory
    keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):
    warm = bytes(24 * 2**20)
    del warm
before = faults()
for _ in range(10):  # a call's pixels: allocated, used, freed, and again on the next call
    small, large = bytearray(8 * 2**20), bytearray(24 * 2**20)
    del large, small
print(faults() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_memory_freed_by_a_call_is_kept_for_the_next() -> None:
    def page_faults(mode: str) -> int:
        run = subprocess.run(  # noqa: S603 (our own interpreter)
            [sys.executable, "-c", _ALLOCATE_AND_FREE, mode],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return int(run.stdout)

    # By default glibc returns the freed top of the heap and the next call faults it in again.
    assert page_faults("keep") < page_faults("plain") / 2
