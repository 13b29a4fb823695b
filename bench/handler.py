"""The warm handler on a three-view set, against the same S3 calls made directly + one decode.

In one process, as a warm Lambda container: local AWS in process (moto), the API stub answering
at once, the handler's processor built on the first invocation and kept. Each repetition uploads
a new set (three phone photos and its manifest) and times the invocation that the manifest's
event makes. The baseline makes the S3 calls that the same invocation made (recorded from
botocore and replayed with a plain client, bodies read) and decodes the three photos once.

Child process: `python -m bench.handler INPUTS_DIR REPEATS`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from PIL import Image

from bench.aws import (
    BUCKET,
    REGION,
    LambdaContext,
    create_resources,
    function_environment,
    recorded_calls,
    replay,
    upload,
)
from bench.inputs import views
from bench.measure import median_ms, report
from bench.stub import ApiStub

MANIFEST = json.dumps({"texture": True, "mtl": True}).encode()


def main(argv: list[str]) -> int:
    directory, repeats = Path(argv[0]), int(argv[1])
    photos = views(directory)
    stub = ApiStub()
    with mock_aws():
        queue_url = create_resources()
        os.environ.update(function_environment(stub.endpoint, queue_url))
        from face3d.function import handler  # after the environment, as in Lambda

        s3 = boto3.client("s3", region_name=REGION)
        sets = iter(range(10_000))

        def new_set() -> dict[str, Any]:
            subject = f"set-{next(sets)}"
            for name, photo in zip(("front", "left", "right"), photos, strict=True):
                upload(s3, f"incoming/{subject}/{name}.jpg", photo)
            return upload(s3, f"incoming/{subject}/manifest.json", MANIFEST)

        def invoke(event: dict[str, Any]) -> None:
            outcome = handler.lambda_handler(event, LambdaContext())
            if outcome != {"succeeded": 1}:
                raise RuntimeError(f"the handler answered {outcome}")

        invoke(new_set())  # the cold invocation: clients, secret, caches
        event = new_set()
        with recorded_calls() as calls:
            invoke(event)
        made = [call for call in calls if call.service == "s3"]
        plain = {"s3": boto3.client("s3", region_name=REGION)}

        def baseline() -> None:
            replay(made, plain)
            for photo in photos:
                with Image.open(io.BytesIO(photo)) as image:
                    image.load()

        baseline()  # warm-up
        seconds: dict[str, list[float]] = {"handler": [], "baseline": []}
        for _ in range(repeats):
            event = new_set()  # uploading the set is part of neither
            started = time.perf_counter()
            invoke(event)
            seconds["handler"].append(time.perf_counter() - started)
            started = time.perf_counter()
            baseline()
            seconds["baseline"].append(time.perf_counter() - started)
    stub.stop()
    report(
        {
            "handler_ms": median_ms(seconds["handler"]),
            "baseline_ms": median_ms(seconds["baseline"]),
            "s3_calls": [call.operation for call in made],
            "calls": len(calls),
            "bucket": BUCKET,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
