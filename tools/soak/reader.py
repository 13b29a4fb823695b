"""A consumer that follows `result.json` while the soak runs (DESIGN.md section 4).

It reads a subject's `result.json`, then each output it lists — by `version_id` when the document
records one, else the latest object — and checks size and sha256. Any difference, or a listed
file it cannot read, is a torn read: what a downstream service would have loaded as a model.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from face3d.contract import OUTPUT_FILES, RESULT_DOCUMENT

_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})


@dataclass(frozen=True)
class TornRead:
    subject: str
    name: str  # the output file, or result.json itself
    problem: str
    pinned: bool  # the file was read by the version id result.json gave


@dataclass
class Candidates:
    """Subjects worth reading: all dropped so far, and those being processed right now (where a
    result may be replaced under the reader's eyes)."""

    dropped: list[str]
    changing: list[str]


class ResultReader:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        folder_of: Callable[[str], str],
        candidates: Callable[[], Candidates],
        *,
        seed: int,
        pause_s: float = 0.02,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._folder_of = folder_of
        self._candidates = candidates
        self._rng = random.Random(seed)  # noqa: S311
        self._pause_s = pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-reader", daemon=True)
        self.documents = 0  # result.json documents read and followed
        self.files = 0  # outputs read
        self.pinned = 0  # outputs read by version id
        self.torn: list[TornRead] = []
        self.errors = 0  # reads S3 refused after the client's retries (moto under load)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.wait(self._pause_s):
            candidates = self._candidates()
            pool = candidates.changing if candidates.changing and self._rng.random() < 0.8 else []
            pool = pool or candidates.dropped
            if not pool:
                continue
            try:
                self.read(self._rng.choice(pool))
            except (ClientError, BotoCoreError):
                self.errors += 1

    def read(self, subject: str) -> None:
        folder = self._folder_of(subject)
        document = self._get(folder + RESULT_DOCUMENT, None)
        if document is None:
            return
        try:
            outputs = json.loads(document)["outputs"]
            listed = [(name, outputs[name]) for name in sorted(outputs)]
        except (ValueError, KeyError, TypeError):
            self.torn.append(TornRead(subject, RESULT_DOCUMENT, "not a result document", False))
            return
        self.documents += 1
        for name, record in listed:
            version = record.get("version_id") if isinstance(record, dict) else None
            self.files += 1
            self.pinned += version is not None
            problem = _differs(record, self._get(_key(record, folder + name), version))
            if problem:
                self.torn.append(TornRead(subject, name, problem, version is not None))

    def _get(self, key: str, version: str | None) -> bytes | None:
        extra = {"VersionId": version} if version else {}
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key, **extra)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        return body


def _key(record: Any, default: str) -> str:
    """Where result.json says an output is (the fixed name in the folder unless it says)."""
    key = record.get("key") if isinstance(record, dict) else None
    return key if isinstance(key, str) and key else default


def _differs(record: Any, data: bytes | None) -> str:
    if data is None:
        return "listed but missing"
    if not isinstance(record, dict):
        return "no size and sha256 listed"
    if record.get("size") != len(data) or record.get("sha256") != hashlib.sha256(data).hexdigest():
        return "bytes differ from result.json"
    return ""


def folder_problems(s3: Any, bucket: str, folder: str, keys: Sequence[str]) -> list[str]:
    """What is wrong with a result folder at rest (no attempt in flight): the latest object at
    each output's key must be the one `result.json` lists, and no output it does not list may
    be in the folder. `keys` are the folder's latest keys."""
    if folder + RESULT_DOCUMENT not in keys:
        return []
    document = json.loads(s3.get_object(Bucket=bucket, Key=folder + RESULT_DOCUMENT)["Body"].read())
    outputs = document.get("outputs", {})
    problems = []
    for name in OUTPUT_FILES:
        if name not in outputs:
            if folder + name in keys:
                problems.append(f"{name} is there but not listed")
            continue
        key = _key(outputs[name], folder + name)
        try:
            data: bytes | None = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _MISSING:
                raise
            data = None
        problem = _differs(outputs[name], data)
        if problem:
            problems.append(f"latest {name}: {problem}")
    return problems
