"""The users: drop each subject's photos into the bucket, and let S3 deliver the events as it
does — at least once (some twice), in any order (some late).

First drops follow a timeline (`rate` subjects a second); a re-upload follows the function's
progress on the subject's earlier set (while it runs, or once it has ended), so that it races
or replaces that set however far behind the function is.

It also works out, for every set it completes, the fingerprint the function will give it: from
the objects it uploaded and their ETags, with the function's own pure code (image_sets,
manifest), so that the soak can tell which set every outcome and every API call belongs to.
"""

from __future__ import annotations

import heapq
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

from .lambda_runtime import AsyncLambda, event_keys
from .workload import Reupload, Subject, Upload


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
class Uploaded:
    """One upload, for the trace of a subject."""

    at: float  # time.monotonic()
    key: str
    etag: str
    version_id: str | None


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
        self._lock = threading.Condition()
        self._folders: dict[str, dict[str, StoredObject]] = {}
        self._dropped: list[str] = []
        self._due: list[tuple[float, int, int]] = []  # (when, subject number, generation)
        # Re-uploads waiting for the function: by the key that closed the earlier set.
        self._waiting: dict[str, tuple[int, int, Reupload]] = {}
        self._thread = threading.Thread(target=self._run, name="soak-feeder", daemon=True)
        function.on_start = lambda event: self._progress(event, "racing")
        function.on_end = lambda event: self._progress(event, "after")
        self.sets: list[CompletedSet] = []
        self.uploads = 0
        self.uploaded: list[Uploaded] = []
        self.deliveries = {"delivery": 0, "duplicate": 0, "late": 0}
        self.unprompted = 0  # re-uploads the function's progress never prompted (a stall)
        self.failure: BaseException | None = None

    def start(self) -> None:
        began = time.monotonic()
        for number in range(len(self._subjects)):
            when = began + number / self._rate + self._rng.uniform(0, 0.5 / self._rate)
            heapq.heappush(self._due, (when, number, 0))
        self._thread.start()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def dropped(self) -> list[str]:
        with self._lock:
            return list(self._dropped)

    def _progress(self, event: dict[str, Any], when: str) -> None:
        """The function started or ended an invocation: a re-upload may wait for that."""
        with self._lock:
            for key in event_keys(event):
                waiting = self._waiting.get(key)
                if waiting is not None and waiting[2].when == when:
                    del self._waiting[key]
                    number, generation, reupload = waiting
                    heapq.heappush(self._due, (time.monotonic() + reupload.gap, number, generation))
                    self._lock.notify()

    def _next(self) -> tuple[int, int] | None:
        """The next drop once due, or None when everything has been dropped."""
        idle_since: float | None = None
        with self._lock:
            while True:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    _, number, generation = heapq.heappop(self._due)
                    return number, generation
                if not self._due and not self._waiting:
                    return None
                if not self._due and self._function.idle():
                    # Nothing can prompt the waiting re-uploads any more: drop them now.
                    idle_since = idle_since or now
                    if now - idle_since > 2.0:
                        for number, generation, _ in self._waiting.values():
                            heapq.heappush(self._due, (now, number, generation))
                            self.unprompted += 1
                        self._waiting.clear()
                        continue
                else:
                    idle_since = None
                wait = self._due[0][0] - now if self._due else 0.5
                self._lock.wait(min(max(wait, 0.001), 0.5))

    def _run(self) -> None:
        try:
            while (step := self._next()) is not None:
                number, generation = step
                self._drop(number, generation)
        except BaseException as exc:  # noqa: BLE001 (reported by the soak, which then fails)
            self.failure = exc

    def _drop(self, number: int, generation: int) -> None:
        subject = self._subjects[number]
        with self._lock:
            self._dropped.append(subject.name)
        uploads = subject.generations[generation].uploads
        for position, upload in enumerate(uploads, 1):
            stored = self._upload(upload)
            if position == len(uploads):
                if generation + 1 < len(subject.generations):
                    with self._lock:  # before the event goes out: it may prompt the re-upload
                        reupload = subject.reuploads[generation]
                        self._waiting[upload.key] = (number, generation + 1, reupload)
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
        self.uploaded.append(Uploaded(time.monotonic(), upload.key, stored.etag, stored.version_id))
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
