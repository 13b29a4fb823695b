"""`face3d status`: where a subject's set stands, or how many sets of the bucket stand where."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from face3d.cli.bucket import ENVIRONMENT_HELP, Where, add_options, connect, where
from face3d.cli.progress import ProgressBar
from face3d.errors import INVALID_INPUT, PermanentError, remedy
from face3d.settings import OperatorSettings, Settings

if TYPE_CHECKING:
    from face3d.errors import Face3DError
    from face3d.function.inventory import SetStatus, SubjectReport
    from face3d.function.objects import StoredObject

STATUS_DESCRIPTION = f"""\
With SUBJECT: the subject's inputs, whether its set is complete, its fingerprint and claim, and
its result (with result.json's summary) or its failure (with the error and what to do).
Without: the bucket's sets counted by state. A subject's current set is the one its newest
closing upload (<subject>.<ext> or <subject>/manifest.json) makes. States:

  waiting      folder views without manifest.json: nothing is processed until it arrives
  pending      complete, but never triggered (no claim, no outcome): `face3d backfill` runs it
  in-progress  claimed by an invocation, or queued for one (by a retry or a backfill)
  succeeded    result.json belongs to the set's fingerprint
  failed       failed permanently: error.json says why; fix the input and upload it again
  parked       a retryable failure waits on the dead-letter queue: fix it, `face3d redrive`

{ENVIRONMENT_HELP}
exit status: 0 reported, 1 no such subject, 3 configuration (bucket, region, credentials),
4 AWS failed us (try again).
"""

STATE_LABELS = {
    "waiting": "waiting for a manifest",
    "pending": "pending (never triggered)",
    "in-progress": "in progress",
    "succeeded": "succeeded",
    "failed": "failed permanently",
    "parked": "parked for redrive",
}
# Subjects named per state in the text output; --json lists them all.
_NAMED = 10


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="where a subject's set stands, or the bucket's sets by state",
        description=STATUS_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("subject", nargs="?", metavar="SUBJECT", help="one subject's name")
    add_options(status)
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    place = where(args, OperatorSettings.from_environ())
    _, inventory = connect(place)
    if args.subject is not None:
        report = inventory.subject(args.subject)
        if report.status is None:
            raise PermanentError(
                INVALID_INPUT,
                f"no subject {args.subject!r} under s3://{place.bucket}/{place.input_prefix}",
            )
        document = subject_json(report, place)
        print(json.dumps(document, indent=2) if args.json else subject_text(document))
        return 0
    bar = ProgressBar()
    try:
        statuses = inventory.sets(progress=bar)
    finally:
        bar.close()
    document = bucket_json(statuses, place)
    print(json.dumps(document, indent=2) if args.json else bucket_text(document))
    return 0


# The JSON documents: what scripts read.


def bucket_json(statuses: Sequence[SetStatus], place: Where) -> dict[str, Any]:
    from face3d.function.inventory import count_by_state

    counts = count_by_state(statuses)
    return {
        "bucket": place.bucket,
        "input_prefix": place.input_prefix,
        "result_bucket": place.result_bucket,
        "result_prefix": place.result_prefix,
        "sets": len(statuses),
        "counts": {state.value: n for state, n in counts.items()},
        "subjects": [
            {
                "subject": status.subject,
                "state": status.state.value,
                "fingerprint": status.fingerprint,
                "closed_by": status.closed_by.key if status.closed_by else None,
            }
            for status in statuses
        ],
    }


def subject_json(report: SubjectReport, place: Where) -> dict[str, Any]:
    status = report.status
    assert status is not None
    image_set = status.image_set
    problem = image_set.problem if image_set else None
    claim = status.claim
    views = {view.value: obj.key for view, obj in image_set.views.items()} if image_set else {}
    failure = _failure(report.failure_document)
    return {
        "subject": status.subject,
        "bucket": place.bucket,
        "state": status.state.value,
        "complete": image_set is not None,
        "fingerprint": status.fingerprint,
        "closed_by": status.closed_by.key if status.closed_by else None,
        "views": views,
        "inputs": [
            {
                "key": obj.key,
                "etag": obj.etag,
                "size": obj.size,
                "last_modified": _time(obj.last_modified),
            }
            for obj in status.inputs.objects()
        ],
        "superseded": list(status.superseded),
        "problem": None if problem is None else {"code": problem.label, "message": problem.message},
        "claim": None
        if claim is None
        else {
            "state": claim.state.value,
            "attempts": claim.attempts,
            "holder": claim.holder,
            "updated_at": _time(datetime.fromtimestamp(claim.updated_at, UTC)),
        },
        "result": _result(status.result, report.result_document),
        "failure": failure,
        "note": status.note or None,
        "what_to_do": _next_step(status.state.value, failure, problem),
    }


def _result(stored: StoredObject | None, document: dict[str, Any] | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    summary: dict[str, Any] = {"key": stored.key, "version_id": stored.version_id}
    if document is not None:
        summary |= {
            "request_id": document.get("request_id"),
            "time_used": document.get("time_used"),
            "views": document.get("views"),
            "outputs": {
                name: {"key": record.get("key"), "size": record.get("size")}
                for name, record in (document.get("outputs") or {}).items()
                if isinstance(record, dict)
            },
            "endpoint": document.get("endpoint"),
            "finished_at": document.get("finished_at"),
        }
    return summary


def _failure(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None:
        return None
    error = document.get("error") or {}
    code = str(error.get("code") or "UNKNOWN")
    return {
        "code": code,
        "view": error.get("view"),
        "message": error.get("message"),
        "retryable": bool(error.get("retryable")),
        "request_id": document.get("request_id"),
        "attempts": document.get("attempts"),
        "failed_at": document.get("failed_at"),
        "what_to_do": remedy(code, bool(error.get("retryable"))),
    }


def _next_step(
    state: str, failure: dict[str, Any] | None, problem: Face3DError | None
) -> str | None:
    match state:
        case "waiting":
            return "upload manifest.json (last): it closes the folder set"
        case "pending":
            return "run `face3d backfill`, or upload the closing file again"
        case "failed":
            if failure is not None:
                return str(failure["what_to_do"])
            return remedy(problem.code, False) if problem is not None else None
        case "parked":
            return "read its message on the dead-letter queue, fix the cause, then `face3d redrive`"
    return None


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# The text for people.


def bucket_text(document: dict[str, Any]) -> str:
    counts: dict[str, int] = document["counts"]
    width = max(len(label) for label in STATE_LABELS.values())
    lines = [f"s3://{document['bucket']}/{document['input_prefix']}: {document['sets']} set(s)"]
    for state, label in STATE_LABELS.items():
        line = f"  {label:<{width}}  {counts.get(state, 0):>7}"
        named = [s["subject"] for s in document["subjects"] if s["state"] == state]
        if named and state not in ("succeeded",):
            more = f" and {len(named) - _NAMED} more" if len(named) > _NAMED else ""
            line += "  " + ", ".join(named[:_NAMED]) + more
        lines.append(line)
    summary = ", ".join(f"{counts.get(state, 0)} {state}" for state in STATE_LABELS)
    lines.append(f"status: {document['sets']} set(s): {summary}")
    return "\n".join(lines)


def subject_text(document: dict[str, Any]) -> str:
    lines = [f"subject {document['subject']} in s3://{document['bucket']}"]
    for item in document["inputs"]:
        lines.append(f"  input {item['key']}  {item['size']} bytes  etag {item['etag']}")
    if document["complete"]:
        views = ", ".join(f"{view} {key}" for view, key in document["views"].items())
        lines.append(f"  complete: closed by {document['closed_by']}; views: {views or 'none'}")
        lines.append(f"  fingerprint {document['fingerprint']}")
    else:
        lines.append("  not complete: waiting for manifest.json")
    for key in document["superseded"]:
        lines.append(f"  superseded upload {key} (an older set)")
    if document["problem"]:
        problem = document["problem"]
        lines.append(f"  problem {problem['code']}: {problem['message']}")
    claim = document["claim"]
    if claim:
        lines.append(
            f"  claim {claim['state']}, {claim['attempts']} attempt(s), "
            f"by {claim['holder']} at {claim['updated_at']}"
        )
    result = document["result"]
    if result:
        outputs = ", ".join(
            f"{name} {record['size']} bytes"
            for name, record in (result.get("outputs") or {}).items()
        )
        lines.append(
            f"  result {result['key']}: request_id {result.get('request_id')}, "
            f"{result.get('time_used')} ms, views {'+'.join(result.get('views') or [])}, "
            f"finished {result.get('finished_at')}"
        )
        if outputs:
            lines.append(f"  outputs {outputs}")
    failure = document["failure"]
    if failure:
        lines.append(
            f"  failure {failure['code']}"
            + (f":{failure['view']}" if failure["view"] else "")
            + f": {failure['message']} (retryable: {str(failure['retryable']).lower()}, "
            f"failed {failure['failed_at']})"
        )
    if document["note"]:
        lines.append(f"  note: {document['note']}")
    if document["what_to_do"]:
        lines.append(f"  what to do: {document['what_to_do']}")
    lines.append(f"status: {document['subject']} {document['state']}")
    return "\n".join(lines)
