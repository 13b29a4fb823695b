"""A subject's story, for a failed invariant: its uploads, the sets they completed, every
invocation on its keys with each call it made, and the fingerprints its result.json versions
carried, on one clock (seconds since the soak began). Pure: from what the soak recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from face3d.function.layout import classify

from .feeder import CompletedSet, Uploaded
from .lambda_runtime import Run, event_keys


def subject_story(
    subject: str,
    input_prefix: str,
    began: float,
    uploaded: Sequence[Uploaded],
    sets: Sequence[CompletedSet],
    runs: Sequence[Run],
    results: Sequence[dict[str, Any]],
) -> list[str]:
    def at(moment: float) -> str:
        return f"{moment - began:8.3f}"

    def ours(key: str) -> bool:
        return classify(key, input_prefix).subject == subject

    lines = [f"trace of {subject}:"]
    for s in sets:
        if s.subject == subject:
            lines.append(
                f"  set {s.generation}: {s.fingerprint[:12]} closed by {s.closing_key} "
                f"({s.closing_etag[:8]}) at {at(s.dropped_at)}"
            )
    for upload in uploaded:
        if ours(upload.key):
            lines.append(
                f"  {at(upload.at)} upload {upload.key} etag {upload.etag[:8]} "
                f"version {upload.version_id}"
            )
    mine = [run for run in runs if any(ours(key) for key in event_keys(run.event))]
    for run in sorted(mine, key=lambda r: r.started):
        inv = run.invocation
        keys = ", ".join(event_keys(run.event))
        lines.append(
            f"  {at(run.started)} run {inv.tag} ({run.label}) {keys} -> {run.outcome} at "
            f"{at(run.ended)}; claimed {(inv.claimed or '-')[:12]}"
            + (f"; plan {inv.plan.describe()}" if inv.plan else "")
        )
        for call in inv.calls:
            killed = f" killed {call.killed}" if call.killed else ""
            lines.append(
                f"      {at(call.started)} {call.service} {call.action} -> {call.status}{killed}"
            )
    lines.append(
        "  result.json versions, oldest first: "
        + ", ".join(str(d.get("fingerprint", "?"))[:12] for d in results)
    )
    return lines
