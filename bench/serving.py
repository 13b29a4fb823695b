"""`face3d serve` in benchmarks: starting it, its throughput with N workers, and its latency.

* Engine server throughput: textured single-view requests per second from 4 concurrent clients,
  `--workers 2` (one per core here) against `--workers 1`, alternating rounds, medians.
* Engine: one and three textured views through `face3d serve` (one request at a time, median
  latency) against MediaPipe Face Mesh alone on the same images (`face_mesh_ms`, in a child).

The images are the benchmark's phone photos prepared as the function sends them.

Child process: `python -m bench.serving facemesh INPUTS_DIR REPEATS`.
"""

from __future__ import annotations

import base64
import io
import os
import queue
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.measure import median_ms, report
from face3d.client.preparation import PreparedImage, SourceImage, prepare_images
from face3d.contract import View
from tests.e2e.servers import serve_process

START_TIMEOUT_S = 300.0
CREDENTIALS = {"api_key": "bench-key", "api_secret": "bench-secret"}


@dataclass
class Server:
    endpoint: str
    pid: int

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) so far of the server's own process and of its engine
        workers together, from /proc (Linux); empty elsewhere."""
        try:
            return {
                "server": _cpu_seconds(self.pid),
                "workers": sum(_cpu_seconds(child) for child in _children(self.pid)),
            }
        except OSError:
            return {}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


@contextmanager
def engine_server(*options: str) -> Iterator[Server]:
    """`face3d serve` on a free loopback port with `options`; stopped on leaving."""
    with serve_process(options, startup_s=START_TIMEOUT_S) as server:
        yield Server(server.endpoint, server.process.pid)


def prepared_views(photos: Sequence[bytes]) -> list[PreparedImage]:
    """The three views as the function sends them."""
    return prepare_images([SourceImage(v, p) for v, p in zip(View, photos, strict=True)])


def form(images: Sequence[PreparedImage]) -> dict[str, str]:
    fields = {**CREDENTIALS, "texture": "1", "mtl": "1"}
    for image in images:
        fields[f"image_base64_{image.view.number}"] = base64.b64encode(image.jpeg).decode()
    return fields


def call(session: requests.Session, endpoint: str, fields: dict[str, str]) -> None:
    # Multipart, as the function's client sends it (a url-encoded form costs both sides more).
    parts = {name: (None, value) for name, value in fields.items()}
    answer = session.post(endpoint, files=parts, timeout=300)
    if answer.status_code != 200:
        raise RuntimeError(f"face3d serve answered {answer.status_code}: {answer.text[:300]}")


def throughput(endpoint: str, fields: dict[str, str], *, clients: int, requests_: int) -> float:
    """Requests per second with `clients` calling at once, `requests_` in all."""
    sessions = [requests.Session() for _ in range(clients)]
    jobs: queue.Queue[int] = queue.Queue()
    for job in range(requests_):
        jobs.put(job)

    def client(index: int) -> None:
        while True:
            try:
                jobs.get_nowait()
            except queue.Empty:
                return
            call(sessions[index], endpoint, fields)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for done in [pool.submit(client, index) for index in range(clients)]:
            done.result()
    return requests_ / (time.perf_counter() - started)


def engine_rows(
    photos: Sequence[bytes], *, rounds: int, requests_per_round: int, repeats: int
) -> dict[str, Any]:
    """Throughput with one and two workers (4 clients), and latency with one worker."""
    prepared = prepared_views(photos)
    one, three = form(prepared[:1]), form(prepared)
    rates: dict[int, list[float]] = {1: [], 2: []}
    rates_three: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, dict[str, float]] = {1: {}, 2: {}}
    seconds: dict[str, list[float]] = {"one_view": [], "three_views": []}
    with engine_server("--workers", "1") as single, engine_server("--workers", "2") as double:
        servers = {1: single, 2: double}
        for workers, server in servers.items():  # warm-up: the first calls load lazily
            throughput(server.endpoint, one, clients=workers, requests_=workers)
        for _ in range(rounds):
            for workers, server in servers.items():
                before = server.cpu_seconds()
                rates[workers].append(
                    throughput(server.endpoint, one, clients=4, requests_=requests_per_round)
                )
                for part, spent in server.cpu_seconds().items():
                    cpu[workers][part] = cpu[workers].get(part, 0.0) + spent - before[part]
        # Where a request holds more engine work (three views), the same two servers.
        for _ in range(rounds):
            for workers, server in servers.items():
                rates_three[workers].append(
                    throughput(server.endpoint, three, clients=4, requests_=requests_per_round // 3)
                )
        session = requests.Session()
        call(session, single.endpoint, three)  # warm-up
        for _ in range(repeats):
            for name, fields in (("one_view", one), ("three_views", three)):
                started = time.perf_counter()
                call(session, single.endpoint, fields)
                seconds[name].append(time.perf_counter() - started)
    return {
        "workers_2_rps": statistics.median(rates[2]),
        "workers_1_rps": statistics.median(rates[1]),
        # Each round measures both back to back: their ratio is least moved by the neighbours.
        "speedup": statistics.median(
            two / one for one, two in zip(rates[1], rates[2], strict=True)
        ),
        "rounds_rps": {str(workers): rates[workers] for workers in rates},
        "three_views_speedup": statistics.median(
            two / one for one, two in zip(rates_three[1], rates_three[2], strict=True)
        ),
        "three_views_rps": {str(workers): rates_three[workers] for workers in rates_three},
        # CPU milliseconds per single-view request, by process: what the two cores must share.
        "cpu_ms_per_request": {
            str(workers): {
                part: 1000 * spent / (rounds * requests_per_round)
                for part, spent in cpu[workers].items()
            }
            for workers in cpu
        },
        "rounds": rounds,
        "requests_per_round": requests_per_round,
        **{f"{name}_ms": median_ms(samples) for name, samples in seconds.items()},
        "view_sizes": [[p.width, p.height] for p in prepared],
    }


def _arithmetic(count: int) -> int:
    total = 0
    for value in range(count):
        total += value * value
    return total


def parallel_arithmetic(rounds: int, count: int = 3_000_000) -> float:
    """How much two processes of pure arithmetic get done against one, now, on this machine:
    what the neighbours leave of the second core (2.0 on two idle cores)."""
    import multiprocessing

    rates: dict[int, list[float]] = {1: [], 2: []}
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_arithmetic, [1000, 1000])  # started
        for _ in range(rounds):
            for processes in (1, 2):
                started = time.perf_counter()
                pool.map(_arithmetic, [count] * processes)
                rates[processes].append(processes / (time.perf_counter() - started))
    return statistics.median(two / one for one, two in zip(rates[1], rates[2], strict=True))


def face_mesh_ms(directory: Path, repeats: int) -> dict[str, float]:
    """Face Mesh alone, as the engine runs it, on the prepared views (decoded beforehand)."""
    import mediapipe as mp
    import numpy as np
    from PIL import Image

    from bench.inputs import views

    prepared = prepared_views(views(directory))
    pixels = [np.asarray(Image.open(io.BytesIO(p.jpeg)).convert("RGB")) for p in prepared]
    # As the engine runs it: static images, two faces (to tell MULTIPLE_FACE_FOUND), irises.
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=2, refine_landmarks=True
    )
    seconds: dict[str, list[float]] = {"one_view": [], "three_views": []}
    for round_ in range(repeats + 1):
        for name, images in (("one_view", pixels[:1]), ("three_views", pixels)):
            started = time.perf_counter()
            for image in images:
                mesh.process(image)
            if round_:  # the first round warms up
                seconds[name].append(time.perf_counter() - started)
    mesh.close()
    return {f"{name}_ms": median_ms(samples) for name, samples in seconds.items()}


if __name__ == "__main__":
    report(face_mesh_ms(Path(sys.argv[2]), int(sys.argv[3])))
