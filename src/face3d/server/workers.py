"""Engine worker processes: `face3d serve --workers N` runs N reconstructions at once.

The engine is CPU-bound Python and native code that is not thread-safe, so one process runs one
engine: each worker is a process of its own (started with `spawn`: nothing of the server's
threads or sockets is inherited) that loads its own engine once and then reconstructs one set at
a time. The server keeps admission (the QPS limit, failures, the engine wait) in its own process
and hands each admitted call to an idle worker over a pipe: images in, the engine's result or
refusal out. A worker that dies (a crash in native code) fails its call with `WorkerDied`, and is
replaced by a new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import queue
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

from face3d.engine import EngineError, EngineResult

logger = logging.getLogger(__name__)

# MediaPipe's models load in a few seconds; a cold disk and a busy machine take longer.
DEFAULT_START_TIMEOUT_S: Final = 180.0
_STOP_TIMEOUT_S: Final = 10.0
# glibc's mallopt parameters, and what the engine's calls keep of the memory they free.
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
_KEPT_FREE_BYTES: Final = 512 * 1024 * 1024
_MMAP_THRESHOLD_MAX: Final = 32 * 1024 * 1024  # glibc's largest on 64-bit systems


class WorkerDied(RuntimeError):
    """A worker process ended while it held a call (the server answers INTERNAL_ERROR)."""


class EngineLoadError(RuntimeError):
    """A worker could not load the engine: the engine extra is missing or its models fail."""


def default_worker_count() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def keep_freed_memory() -> None:
    """Have glibc's malloc keep the memory a reconstruction frees for the next one.

    A call allocates and frees tens of megabytes of pixels; by default glibc hands the freed top
    of the heap back to the system at once, and the next call faults every page in again
    (measured in an engine worker: about 4,000 page faults and 10 ms of system time per
    single-view reconstruction, against 20 faults and under 1 ms with this). The cost is that a
    process running the engine stays at its peak memory. A no-op where the C library is not
    glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt: not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    mallopt(_M_TRIM_THRESHOLD, _KEPT_FREE_BYTES)


class EngineWorkers:
    """`count` worker processes, each with its own engine; a drop-in for one engine object.

    `reconstruct` may be called from up to `count` threads at once (the server admits no more);
    each call takes an idle worker. Raises EngineLoadError if a worker cannot load the engine.
    """

    def __init__(self, count: int, *, start_timeout: float = DEFAULT_START_TIMEOUT_S) -> None:
        if count < 1:
            raise ValueError("need at least one worker")
        self.count = count
        self._start_timeout = start_timeout
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._closed = False
        try:
            # Started together, so that their engines load in parallel.
            starting = [_Worker(self._context) for _ in range(count)]
            self._workers.extend(starting)
            for worker in starting:
                worker.wait_ready(start_timeout)
                self._idle.put(worker)
        except BaseException:
            self.close()
            raise

    def reconstruct(
        self, images: Mapping[int, bytes], /, *, texture: bool, mtl: bool
    ) -> EngineResult:
        worker = self._idle.get()
        try:
            return worker.reconstruct(dict(images), texture=texture, mtl=mtl)
        except WorkerDied:
            worker = self._replace(worker)
            raise
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()

    def _replace(self, dead: _Worker) -> _Worker:
        logger.error("engine worker %s died; starting a new one", dead.pid)
        dead.stop()
        replacement = _Worker(self._context)
        with self._lock:
            if self._closed:
                replacement.stop()
                return replacement
            self._workers = [w for w in self._workers if w is not dead] + [replacement]
        try:
            replacement.wait_ready(self._start_timeout)
        except EngineLoadError:
            logger.exception("the replacement engine worker failed to start")
            # Stopped, so that a late "ready" never answers a call (and each answer the call
            # after it): the next call through it fails with WorkerDied and starts another.
            replacement.stop()
        return replacement


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any) -> None:
        parent, child = context.Pipe()
        self._connection: Connection = parent
        self._process: BaseProcess = context.Process(
            target=_serve, args=(child,), name="face3d-engine", daemon=True
        )
        self._process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_ready(self, timeout: float) -> None:
        if not self._connection.poll(timeout):
            raise EngineLoadError(f"an engine worker did not load in {timeout:.0f} s")
        try:
            message = self._connection.recv()
        except (EOFError, OSError) as exc:
            raise EngineLoadError(f"an engine worker exited ({self._process.exitcode})") from exc
        if message[0] != "ready":
            raise EngineLoadError(message[1])

    def reconstruct(self, images: dict[int, bytes], *, texture: bool, mtl: bool) -> EngineResult:
        try:
            self._connection.send((images, texture, mtl))
            message = self._connection.recv()
        except (EOFError, OSError) as exc:
            raise WorkerDied(f"engine worker {self.pid} ended during a call") from exc
        kind = message[0]
        if kind == "result":
            result: EngineResult = message[1]
            return result
        if kind == "refused":  # EngineError does not survive pickling: sent as its fields
            raise EngineError(*message[1:])
        raise RuntimeError(f"engine worker {self.pid}: {message[1]}")

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self._connection.send(None)
        self._process.join(_STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(_STOP_TIMEOUT_S)
        self._connection.close()


def _serve(connection: Connection) -> None:
    """A worker's life: load the engine, then reconstruct what the pipe brings until None."""
    try:
        engine = _load()
    except Exception as exc:  # noqa: BLE001 (whatever loading raises: the parent says it, stops)
        connection.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    connection.send(("ready",))
    try:
        while True:
            job = connection.recv()
            if job is None:
                return
            images, texture, mtl = job
            connection.send(_run(engine, images, texture=texture, mtl=mtl))
    except (EOFError, KeyboardInterrupt):  # the server went away, or Ctrl-C reached us too
        return
    finally:
        engine.close()


def _load() -> Any:
    from face3d.engine import Engine

    keep_freed_memory()
    # One worker per core: the libraries' own thread pools would only compete with the others.
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # the engine will say what is missing
        pass
    return Engine()


def _run(engine: Any, images: dict[int, bytes], *, texture: bool, mtl: bool) -> tuple[Any, ...]:
    try:
        return ("result", engine.reconstruct(images, texture=texture, mtl=mtl))
    except EngineError as refusal:
        return ("refused", refusal.code, refusal.slot, refusal.message)
    except Exception as exc:  # noqa: BLE001 (the server logs it and answers INTERNAL_ERROR)
        return ("error", f"{type(exc).__name__}: {exc}")
