"""The two fresh processes the cold-start benchmark times; nothing imported that they do not need.

`python -m bench.cold_child handler EVENT.json`: import the handler and handle the event, as a
new Lambda container's first invocation does. `python -m bench.cold_child bare CALLS.pickle
ENDPOINT BODY_BYTES`: import boto3 and requests, make the same AWS calls (recorded from a
handler run) with plain clients, and post a body of the same size to the API stub.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any


class _Context:
    aws_request_id = "cold"
    function_name = "face3d-bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:face3d-bench"

    def get_remaining_time_in_millis(self) -> int:
        return 170_000


def handler(event_path: str) -> None:
    with open(event_path) as file:
        event = json.load(file)
    from face3d.function.handler import lambda_handler

    outcome = lambda_handler(event, _Context())
    if outcome != {"succeeded": 1}:
        raise SystemExit(f"the handler answered {outcome}")


def bare(calls_path: str, endpoint: str, body_bytes: str) -> None:
    import boto3
    import requests
    from botocore import xform_name
    from botocore.exceptions import ClientError

    with open(calls_path, "rb") as file:
        calls: list[tuple[str, str, dict[str, Any]]] = pickle.load(file)  # noqa: S301 (ours)
    clients = {service: boto3.client(service) for service in dict.fromkeys(s for s, _, _ in calls)}
    for service, operation, params in calls:
        try:
            answer = getattr(clients[service], xform_name(operation))(**params)
        except ClientError:
            continue
        if "Body" in answer:
            answer["Body"].read()
    response = requests.post(endpoint, data=b"\0" * int(body_bytes), timeout=30)
    response.raise_for_status()
    response.content  # noqa: B018 (read the answer, as the handler does)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    handler(*args) if mode == "handler" else bare(*args)
