"""The users: drop each subject's photos into the bucket on a timeline, and let S3 deliver the
events as it does — at least once (some twice), in any order (some late).

It also works out, for every set it completes, the fingerprint the function will give it: from
the objects it uploaded and their ETags, with the function's own pure code (image_sets,
manifest), so that the soak can tell which set every outcome and every API call belongs to.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from face3d.client.results import set_fingerprint
from face3d.errors import PermanentError
from face3d.function.events import object_created_event
from face3d.function.image_sets import folder_set
from face3d.function.layout import MANIFEST_NAME, Role, classify
from face3d.function.manifest import Manifest, parse_manifest
from face3d.function.objects import StoredObject

from .lambda_runtime import AsyncLambda
from .workload import Subject, Upload


@dataclass(frozen=True)
class CompletedSet:
    """A set the users completed: its closing upload was delivered (at least once)."""

    subject: str
    generation: int
    fingerprint: str
    expect: str
    closing_key: str
    closing_etag: str
    dropped_at: float


@dataclass(frozen=True)
class Delivery:
    shares: tuple[float, float]  # (duplicate, late) shares of the deliveries
    jitter_s: float  # a delivery waits up to this long
    late_s: tuple[float, float]  # a late one this long


class Feeder:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        input_prefix: str,
        subjects: list[Subject],
        function: AsyncLambda,
        *,
        rate: float,
        delivery: Delivery,
        seed: int,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._input_prefix = input_prefix
        self._subjects = subjects
        self._function = function
        self._rate = rate
        self._delivery = delivery
        self._rng = random.Random(seed)  # noqa: S311
        self._lock = threading.Lock()
        self._folders: dict[str, dict[str, StoredObject]] = {}
        self._dropped: list[str] = []
        self._thread = threading.Thread(target=self._run, name="soak-feeder", daemon=True)
        self.sets: list[CompletedSet] = []
        self.uploads = 0
        self.deliveries = {"delivery": 0, "duplicate": 0, "late": 0}
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def dropped(self) -> list[str]:
        with self._lock:
            return list(self._dropped)

    def timeline(self) -> list[tuple[float, int, Subject, int]]:
        """(seconds from the start, subject number, subject, generation), in time order."""
        steps = []
        for number, subject in enumerate(self._subjects):
            start = number / self._rate + self._rng.uniform(0, 0.5 / self._rate)
            steps.append((start, number, subject, 0))
            for generation, gap in enumerate(subject.gaps, 1):
                start += gap
                steps.append((start, number, subject, generation))
        return sorted(steps, key=lambda step: (step[0], step[1], step[3]))

    def _run(self) -> None:
        began = time.monotonic()
        try:
            for at, _, subject, generation in self.timeline():
                time.sleep(max(began + at - time.monotonic(), 0.0))
                self._drop(subject, generation)
        except BaseException as exc:  # noqa: BLE001 (reported by the soak, which then fails)
            self.failure = exc

    def _drop(self, subject: Subject, generation: int) -> None:
        with self._lock:
            self._dropped.append(subject.name)
        uploads = subject.generations[generation].uploads
        for number, upload in enumerate(uploads, 1):
            stored = self._upload(upload)
            if number == len(uploads):
                self.sets.append(
                    CompletedSet(
                        subject.name,
                        generation,
                        self._fingerprint(subject.name, upload, stored),
                        subject.generations[generation].expect,
                        upload.key,
                        stored.etag,
                        time.monotonic(),
                    )
                )
            self._deliver(upload.key, stored)

    def _upload(self, upload: Upload) -> StoredObject:
        answer = self._s3.put_object(Bucket=self._bucket, Key=upload.key, Body=upload.data)
        stored = StoredObject(
            upload.key, answer["ETag"].strip('"'), len(upload.data), answer.get("VersionId")
        )
        folder = upload.key.rpartition("/")[0]
        self._folders.setdefault(folder, {})[upload.key] = stored
        self.uploads += 1
        return stored

    def _deliver(self, key: str, stored: StoredObject) -> None:
        event = object_created_event(
            self._bucket,
            key,
            etag=stored.etag,
            size=stored.size,
            version_id=stored.version_id,
            event_time=datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        )
        duplicate_share, late_share = self._delivery.shares
        late = self._rng.random() < late_share
        delay = (
            self._rng.uniform(*self._delivery.late_s)
            if late
            else self._rng.uniform(0, self._delivery.jitter_s)
        )
        label = "late" if late else "delivery"
        self._function.invoke_async(event, delay=delay, label=label)
        self.deliveries[label] += 1
        if self._rng.random() < duplicate_share:
            delay = self._rng.uniform(0, 3 * self._delivery.jitter_s)
            self._function.invoke_async(event, delay=delay, label="duplicate")
            self.deliveries["duplicate"] += 1

    def _fingerprint(self, subject: str, closing: Upload, stored: StoredObject) -> str:
        role = classify(closing.key, self._input_prefix).role
        if role is Role.SINGLE_IMAGE:
            return set_fingerprint([(stored.key, stored.etag)])
        assert role is Role.MANIFEST, closing.key
        manifest: Manifest | PermanentError
        try:
            manifest = parse_manifest(closing.data)
        except PermanentError as problem:
            manifest = problem
        folder = closing.key[: -len(MANIFEST_NAME)]
        listing = list(self._folders[folder.rstrip("/")].values())
        return folder_set(subject, self._bucket, stored, manifest, listing).fingerprint
