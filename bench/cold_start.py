"""Cold start: a fresh process handling a one-image set, against a bare process doing its calls.

Local AWS runs as a server (moto) and the API stub on loopback, both in this process. Each
repetition uploads a new one-image set (the astronaut sample photo, 512x512: this row measures
what starting costs; preparing phone photos has its own row) and times, wall clock from start to
exit, (1) `python -m bench.cold_child handler`: import the handler, build its clients, handle
the set; (2) `python -m bench.cold_child bare`: import boto3 and requests and make the same AWS
calls (recorded from a handler run) and one POST of the same size. Also: `-X importtime` of the
handler, summed by package: where the cold start's imports go.

Child process: `python -m bench.cold_start record EVENT.json CALLS.pickle` (untimed).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bench.aws import REGION, create_resources, function_environment, upload
from bench.inputs import small_photo
from bench.measure import median_ms
from bench.stub import ApiStub

# Import time summed under these names (the rest is "other").
_PACKAGES = {
    "boto3": "AWS SDK (boto3, botocore, s3transfer)",
    "botocore": "AWS SDK (boto3, botocore, s3transfer)",
    "s3transfer": "AWS SDK (boto3, botocore, s3transfer)",
    "aws_lambda_powertools": "Powertools",
    "aws_xray_sdk": "X-Ray SDK",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "PIL": "Pillow",
    "requests": "requests, urllib3",
    "urllib3": "requests, urllib3",
    "face3d": "face3d",
}


def run(directory: Path, repeats: int) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: a line per request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    stub = ApiStub()
    host, port = moto.get_host_and_port()
    aws_url = f"http://{host}:{port}"
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws_url,
        **function_environment(stub.endpoint, _queue(aws_url)),
    }
    os.environ.update({k: environment[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws_url)
    photo = small_photo(directory)
    subjects = iter(range(100_000))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)

            def event_file() -> str:
                event = upload(s3, f"incoming/cold-{next(subjects)}.jpg", photo)
                path = work / "event.json"
                path.write_text(json.dumps(event))
                return str(path)

            calls = work / "calls.pickle"
            _child(["bench.cold_start", "record", event_file(), str(calls)], environment)
            body = str(stub.last_request_bytes)
            seconds: dict[str, list[float]] = {"handler": [], "bare": []}
            for _ in range(repeats + 1):  # the first of each warms the disk cache, and is dropped
                seconds["handler"].append(
                    _child(["bench.cold_child", "handler", event_file()], environment)
                )
                seconds["bare"].append(
                    _child(
                        ["bench.cold_child", "bare", str(calls), stub.endpoint, body], environment
                    )
                )
            recorded = pickle.loads(calls.read_bytes())  # noqa: S301 (ours)
        imports = import_times(environment)
    finally:
        stub.stop()
        moto.stop()
    return {
        "handler_ms": median_ms(seconds["handler"][1:]),
        "bare_ms": median_ms(seconds["bare"][1:]),
        "aws_calls": [f"{service}:{operation}" for service, operation, _ in recorded],
        "request_bytes": int(body),
        "imports_ms": imports,
    }


def _queue(aws_url: str) -> str:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    return create_resources(aws_url)


def _child(arguments: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = subprocess.run(  # noqa: S603 (our own interpreter and modules)
        [sys.executable, "-m", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if answer.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{answer.stderr[-3000:]}")
    return elapsed


def import_times(environment: dict[str, str]) -> dict[str, float]:
    """Milliseconds of `import face3d.function.handler` by package (self times summed)."""
    answer = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import face3d.function.handler"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    totals: dict[str, float] = defaultdict(float)
    for line in answer.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (\s*)(\S+)", line)
        if found:
            top = found.group(3).split(".")[0]
            totals[_PACKAGES.get(top, "other")] += int(found.group(1)) / 1000
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def record(event_path: str, calls_path: str) -> None:
    """Handle the event once, writing down every AWS call made."""
    from bench.aws import recorded_calls
    from bench.cold_child import handler

    with recorded_calls() as calls:
        handler(event_path)
    Path(calls_path).write_bytes(
        pickle.dumps([(call.service, call.operation, call.params) for call in calls])
    )


if __name__ == "__main__":
    record(*sys.argv[2:])
