"""What the soak left behind, read once everything has settled: the DLQ's messages, every
version of every `result.json` and `error.json`, and each result folder's state at rest."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from face3d.contract import ERROR_DOCUMENT, RESULT_DOCUMENT

from .reader import folder_problems

_DOCUMENTS = (RESULT_DOCUMENT, ERROR_DOCUMENT)


@dataclass(frozen=True)
class Message:
    body: str
    attributes: dict[str, str]

    def json(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None


@dataclass
class Folder:
    """One subject's result folder: every version of its documents, oldest first."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text) for the scan
    current_result: dict[str, Any] | None = None
    at_rest: list[str] = field(default_factory=list)


def drain(sqs: Any, queue_url: str) -> list[Message]:
    """Every message on the queue (received once each; left hidden, not deleted)."""
    found: list[Message] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=3600,
        ).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            attributes = {
                name: str(value.get("StringValue", ""))
                for name, value in message.get("MessageAttributes", {}).items()
            }
            found.append(Message(message["Body"], attributes))


def folders(s3: Any, bucket: str, result_prefix: str) -> dict[str, Folder]:
    """The result folders under `result_prefix`, by folder prefix (`results/<subject>/`)."""
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    latest: dict[str, list[str]] = defaultdict(list)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=result_prefix)
    for page in pages:
        for version in page.get("Versions", []):
            folder, _, name = version["Key"].rpartition("/")
            if folder.endswith("/.claims") or folder + "/" == result_prefix:
                continue
            versions[folder + "/"].append(version)
            if version.get("IsLatest"):
                latest[folder + "/"].append(version["Key"])
    found: dict[str, Folder] = {}
    for folder, listed in versions.items():
        entry = found[folder] = Folder()
        # S3 lists each key's versions newest first.
        documents = [v for v in listed if v["Key"].rpartition("/")[2] in _DOCUMENTS]
        for version in reversed(documents):
            name = version["Key"].rpartition("/")[2]
            text = (
                s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])[
                    "Body"
                ]
                .read()
                .decode("utf-8", errors="replace")
            )
            entry.texts.append((f"{version['Key']} version {version['VersionId']}", text))
            try:
                document = json.loads(text)
            except ValueError:
                document = {"unreadable": True}
            (entry.results if name == RESULT_DOCUMENT else entry.errors).append(document)
            if name == RESULT_DOCUMENT and version.get("IsLatest"):
                entry.current_result = document
        entry.at_rest = folder_problems(s3, bucket, folder, latest[folder])
    return found
