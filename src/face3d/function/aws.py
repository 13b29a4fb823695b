"""AWS clients for the function's adapters and its operator commands, made in one place.

Every client waits a bounded time and uses botocore's standard retries for throttling and 5xx.
`region` None takes the SDK's usual chain (AWS_REGION in Lambda); commands and the demo name it.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

AWS_CONFIG = Config(
    connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4}
)


def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for `service` (typed at the call site: mypy_boto3 stubs)."""
    return boto3.client(service, config=AWS_CONFIG, region_name=region)  # type: ignore[call-overload]
