"""The pipeline under a rate limit: sets per second against `face3d serve --qps N`.

More containers than the QPS (`workers`, threads here, each a container with its own processor,
clients and pacer) take sets off a backlog: a front view (the sample photo as it ships) and a
manifest asking for the mesh alone, so that neither preparation nor the engine's texture bake on
this shared machine limits the row: it measures the API's QPS. Local AWS runs in process (moto,
the cheapest for the containers' one shared interpreter). Run twice against
the same server: with pacing (API_QPS=N, API_CALLERS=workers) and without it, as before issue
11 (calls hammer the API and back off when refused). Counted: sets finished per second, and the
share of API calls refused with CONCURRENCY_LIMIT_EXCEEDED.

Child process: `python -m bench.pipeline INPUTS_DIR ENDPOINT QPS WORKERS SETS PACED`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.aws import BUCKET, REGION, create_resources, function_environment
from bench.inputs import small_photo
from bench.measure import report

MESH_ONLY = json.dumps({"texture": False, "mtl": False}).encode()


class _CallCounter(logging.Handler):
    """Counts the client's attempts, and those refused over the QPS, from its log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.calls = 0
        self.refused = 0
        self.refused_at: list[float] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith("3dface attempt"):
            return
        with self._lock:
            self.calls += 1
            if "code=CONCURRENCY_LIMIT_EXCEEDED" in message:
                self.refused += 1
                self.refused_at.append(record.created)


def run(directory: Path, endpoint: str, qps: int, workers: int, sets: int, paced: bool) -> Any:
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    with mock_aws():
        return _run(directory, endpoint, qps, workers, sets, paced)


def _run(directory: Path, endpoint: str, qps: int, workers: int, sets: int, paced: bool) -> Any:
    queue_url = create_resources()
    os.environ.update(
        {
            **function_environment(endpoint, queue_url),
            "MAX_ATTEMPTS": "20",  # a set refused for QPS is retried, not failed
            "API_QPS": str(qps) if paced else "0",
            "API_CALLERS": str(workers),
        }
    )
    from face3d.function.handler import build_processor
    from face3d.function.processing import Status, Upload
    from face3d.settings import FunctionSettings

    counter = _CallCounter()
    client_log = logging.getLogger("face3d.client.http")
    client_log.setLevel(logging.INFO)
    client_log.addHandler(counter)
    s3 = boto3.client("s3", region_name=REGION)
    photo = small_photo(directory)
    backlog: queue.Queue[str] = queue.Queue()
    for index in range(sets):
        s3.put_object(Bucket=BUCKET, Key=f"incoming/subject-{index}/front.jpg", Body=photo)
        key = f"incoming/subject-{index}/manifest.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=MESH_ONLY)
        backlog.put(key)
    settings = FunctionSettings.from_environ()
    finished: list[float] = []
    api_seconds: list[float] = []
    problems: list[str] = []

    def container(number: int) -> None:
        processor = build_processor(settings, region=REGION)
        while True:
            try:
                key = backlog.get_nowait()
            except queue.Empty:
                return
            try:
                report_ = processor.handle(
                    Upload(BUCKET, key), holder=f"worker-{number}", remaining=lambda: 170.0
                )
            except Exception as exc:  # noqa: BLE001 (given back, as Lambda would retry it)
                problems.append(f"{type(exc).__name__}: {exc}")
                backlog.put(key)
                continue
            if report_.status is not Status.SUCCEEDED:
                problems.append(f"{key}: {report_.status} {report_.code}")
            finished.append(time.monotonic())
            api_seconds.append(report_.api_seconds or 0.0)

    started = time.monotonic()
    threads = [threading.Thread(target=container, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Steady state: from the first set finished to the last (the first waits for cold starts).
    rate = (len(finished) - 1) / (max(finished) - min(finished)) if len(finished) > 1 else 0.0
    return {
        "sets_per_s": rate,
        "qps_used": rate / qps,
        "calls": counter.calls,
        "refused": counter.refused,
        "refused_share": counter.refused / max(counter.calls, 1),
        "seconds": max(finished) - started,
        "api_call_s": statistics.median(api_seconds),
        "problems": problems[:5],
        "refused_after_s": [
            round(t - time.time() + time.monotonic() - started, 1) for t in counter.refused_at
        ],
    }


def main(argv: list[str]) -> int:
    directory, endpoint = Path(argv[0]), argv[1]
    qps, workers, sets, paced = (int(value) for value in argv[2:6])
    report(run(directory, endpoint, qps, workers, sets, bool(paced)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
