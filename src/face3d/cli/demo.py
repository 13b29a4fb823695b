"""`face3d demo`: the whole pipeline on this machine, offline.

Local S3, SQS and Secrets Manager (moto, in process), the offline engine behind `face3d serve` on
loopback, and the real Lambda handler receiving real-format S3 events for sample subjects: one
photo dropped as `<subject>.jpg`, one PNG folder set closed by its manifest, and one photo
without a face, which ends on the dead-letter queue. Results, failure records and preview
pictures land in a local folder, with three logs: `demo.log` says what happened to each subject,
step by step; `function.log` holds the handler's JSON log and metric lines, as CloudWatch would
receive them; `engine.log` the engine's (MediaPipe's and TF Lite's native logs among them).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from face3d import samples
from face3d.cli.demo_logs import Journal, logs_into
from face3d.client.results import timestamp
from face3d.contract import ERROR_DOCUMENT, OBJ_NAME, RESULT_DOCUMENT, TEXTURE_NAME
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.settings import FunctionSettings, Settings

REGION = "us-east-1"
BUCKET = "face3d-demo-000000000000-us-east-1"
SECRET_ID = "face3d/facepp"  # noqa: S105 (the secret's name, not a password)
QUEUE = "face3d-demo-dlq"
# A rule on the default bus forwards the result events here, as a consumer's rule would.
EVENTS_QUEUE = "face3d-demo-result-events"
# The demo's folder is ours: a marker tells that an existing folder may be replaced.
MARKER = ".face3d-demo"
LOG_NAME = "demo.log"  # what happened to each subject, one line per step
FUNCTION_LOG = "function.log"  # the handler's JSON log lines and metrics
ENGINE_LOG = "engine.log"  # the engine server's, MediaPipe's and TF Lite's logs


DEMO_DESCRIPTION = """\
Run the whole pipeline on this machine, offline: local S3, SQS and Secrets Manager (moto), the
offline engine behind `face3d serve` on a loopback port, and the real Lambda handler receiving
real-format S3 events for sample subjects (real photos from scikit-image and matplotlib):

  astronaut     one photo dropped as incoming/astronaut.jpg
  grace-hopper  a PNG folder set closed by its manifest.json
  coffee        a photo without a face: NO_FACE_FOUND, error.json and a DLQ message

Results, failure records, dead-letter messages and preview pictures land in DIR, with
demo.log (each subject's steps), function.log (the handler's JSON lines) and engine.log.
Needs the engine and demo extras (make demo installs them).
"""


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline offline on sample photos",
        description=DEMO_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "-o", "--output", type=Path, default=Path("demo-output"), metavar="DIR",
        help="folder for results and pictures (default: demo-output; replaced on each run)",
    )  # fmt: skip
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    outcomes = run_demo(args.output)
    print(format_table(outcomes))
    failed = [o for o in outcomes if o.status != "succeeded"]
    print(
        f"demo: {len(outcomes) - len(failed)} succeeded, {len(failed)} failed"
        f"{' (' + ', '.join(o.code or o.status for o in failed) + ')' if failed else ''} "
        f"in {time.monotonic() - started:.1f} s; results in {args.output}/"
    )
    return 0


@dataclass(frozen=True)
class Upload:
    key: str
    data: bytes


@dataclass(frozen=True)
class Subject:
    name: str
    kind: str  # how it is dropped, for the table
    uploads: list[Upload]  # in upload order: the last one completes the set


@dataclass
class Outcome:
    subject: Subject
    status: str = "?"
    code: str = ""
    seconds: float = 0.0
    files: dict[str, int] = field(default_factory=dict)


def sample_subjects() -> list[Subject]:
    """Real photos that ship inside packages (scikit-image, matplotlib)."""
    astronaut, grace_hopper, coffee = (
        samples.astronaut_jpeg(),
        samples.grace_hopper_png(),
        samples.coffee_jpeg(),
    )
    manifest = {"texture": True, "mtl": True, "metadata": {"source": "matplotlib sample data"}}
    return [
        Subject(
            "astronaut", "one photo, <subject>.jpg", [Upload("incoming/astronaut.jpg", astronaut)]
        ),
        Subject(
            "grace-hopper",
            "folder set, PNG + manifest",
            [
                Upload("incoming/grace-hopper/front.png", grace_hopper),
                Upload("incoming/grace-hopper/manifest.json", json.dumps(manifest).encode()),
            ],
        ),
        Subject("coffee", "one photo, no face in it", [Upload("incoming/coffee.jpg", coffee)]),
    ]


def run_demo(output: Path, *, echo: Callable[[str], None] = print) -> list[Outcome]:
    """Run every sample subject through the pipeline; write what came out into `output`.

    Each step of each subject goes to `output/demo.log`; what the handler logs to
    `output/function.log` and what the engine server and MediaPipe log to `output/engine.log`.
    `echo` gets one line per subject.
    """
    _prepare_output(output)
    subjects = sample_subjects()
    from face3d.server.app import FaceApp, load_engine
    from face3d.server.serving import start_server

    with (
        Journal.open(output / LOG_NAME) as journal,
        logs_into(output / ENGINE_LOG, output / FUNCTION_LOG) as (say, function_log),
    ):
        engine = load_engine()
        try:
            with (
                start_server(FaceApp(engine, engine_decodes_images=True), port=0) as server,
                _local_aws(server.endpoint, function_log) as local,
            ):
                journal.note(
                    f"engine at {server.endpoint}; bucket s3://{BUCKET}/ (moto); the handler's "
                    f"log in {FUNCTION_LOG}, the engine's in {ENGINE_LOG}"
                )
                outcomes = [
                    _run_subject(s, output, local, journal, lambda line: say(line, echo))
                    for s in subjects
                ]
                _save_dead_letters(output, local.dlq_url, outcomes, journal)
                return outcomes
        finally:
            engine.close()


def format_table(outcomes: list[Outcome]) -> str:
    rows = [("subject", "dropped as", "outcome", "seconds", "files")]
    for outcome in outcomes:
        files = ", ".join(f"{name} {_size(size)}" for name, size in outcome.files.items())
        status = outcome.status + (f" ({outcome.code})" if outcome.code else "")
        rows.append(
            (outcome.subject.name, outcome.subject.kind, status, f"{outcome.seconds:.1f}", files)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


# The local AWS side.


@dataclass(frozen=True)
class _Local:
    dlq_url: str
    events_url: str  # the queue a rule forwards the result events to


@contextmanager
def _local_aws(endpoint: str, log: TextIO) -> Iterator[_Local]:
    """S3, SQS, EventBridge and Secrets Manager in this process (moto), with the handler wired
    to them: its log lines go to `log`."""
    try:
        from moto import mock_aws
    except ImportError as exc:
        raise ConfigurationError(
            INVALID_CONFIGURATION,
            "face3d demo needs moto: pip install 'face3d-pipeline[engine,demo]' (make demo does)",
        ) from exc
    from face3d.function import aws, handler

    with mock_aws():
        s3 = aws.client("s3", REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sqs = aws.client("sqs", REGION)
        queue_url: str = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        events_url: str = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])
        bus = aws.client("events", REGION)
        bus.put_rule(Name=EVENTS_QUEUE, EventPattern=json.dumps({"source": ["face3d"]}))
        bus.put_targets(
            Rule=EVENTS_QUEUE,
            Targets=[{"Id": "queue", "Arn": events_arn["Attributes"]["QueueArn"]}],
        )
        # The offline engine accepts any credentials; the handler still reads them as in AWS.
        aws.client("secretsmanager", REGION).create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"api_key": "demo", "api_secret": "demo"})
        )
        settings = FunctionSettings.from_environ(
            {
                "FACEPP_SECRET_ID": SECRET_ID,
                "FACEPP_ENDPOINT": endpoint,
                "DLQ_URL": queue_url,
                "FUNCTION_TIMEOUT_S": "180",
                "EVENT_BUS": "default",
            }
        )
        handler.install(handler.build_processor(settings, region=REGION))
        # The handler logs to the stream it found at import (stdout, in Lambda): send it to
        # the function's log, whatever stdout was then.
        streams = [h for h in handler.logger.handlers if isinstance(h, logging.StreamHandler)]
        previous = [h.setStream(log) for h in streams]
        try:
            yield _Local(queue_url, events_url)
        finally:
            for stream_handler, stream in zip(streams, previous, strict=True):
                if stream is not None:
                    stream_handler.setStream(stream)
            handler.install(None)


@dataclass
class _Context:
    """What the handler reads of Lambda's context."""

    aws_request_id: str
    deadline: float = field(default_factory=lambda: time.monotonic() + 180)
    function_name: str = "face3d-demo"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:000000000000:function:face3d-demo"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def _run_subject(
    subject: Subject,
    output: Path,
    local: _Local,
    journal: Journal,
    echo: Callable[[str], None],
) -> Outcome:
    from face3d.function import aws, handler
    from face3d.function.events import object_created_event

    s3 = aws.client("s3", REGION)
    outcome = Outcome(subject)
    started = time.monotonic()
    for number, upload in enumerate(subject.uploads, 1):
        answer = s3.put_object(Bucket=BUCKET, Key=upload.key, Body=upload.data)
        # As S3 stamps it: the time of the upload, to the millisecond.
        event_time = timestamp(datetime.now(UTC))
        journal.step(
            subject.name,
            f"uploaded {upload.key} ({_size(len(upload.data))}, version {answer['VersionId']})",
        )
        event = object_created_event(
            BUCKET,
            upload.key,
            etag=answer["ETag"].strip('"'),
            size=len(upload.data),
            version_id=answer.get("VersionId"),
            event_time=event_time,
            region=REGION,
        )
        request_id = f"demo-{subject.name}-{number}"
        counts = handler.lambda_handler(event, _Context(request_id))
        outcome.status = next(iter(counts), "?")
        journal.step(
            subject.name,
            f"event delivered: ObjectCreated:Put {upload.key} at {event_time} "
            f"(request {request_id}); the function: {outcome.status}",
        )
    outcome.seconds = time.monotonic() - started
    folder = output / subject.name
    folder.mkdir()
    _save_inputs(subject, folder / "inputs")
    _download(s3, f"results/{subject.name}/", folder, outcome)
    journal.step(subject.name, f"outcome: {_describe_outcome(folder, outcome)}")
    for detail_type, detail in _result_events(local.events_url):
        journal.step(subject.name, f"result event: {detail_type} ({_describe_event(detail)})")
    files = ", ".join(f"{name} {_size(size)}" for name, size in outcome.files.items())
    journal.step(subject.name, f"files: {files or 'none'} in {folder}/")
    if (folder / OBJ_NAME).exists():
        _render_preview(folder, subject, outcome)
        journal.step(subject.name, f"preview: {folder / 'preview.png'}")
    echo(f"{subject.name}: {outcome.status} in {outcome.seconds:.1f} s")
    return outcome


def _describe_outcome(folder: Path, outcome: Outcome) -> str:
    took = f"in {outcome.seconds:.1f} s"
    if (folder / ERROR_DOCUMENT).exists():
        error = json.loads((folder / ERROR_DOCUMENT).read_text())["error"]
        outcome.code = error["code"]
        view = f" ({error['view']} view)" if error.get("view") else ""
        return f"{outcome.status} {took}: {error['code']}{view}: {error['message']}"
    if (folder / RESULT_DOCUMENT).exists():
        document = json.loads((folder / RESULT_DOCUMENT).read_text())
        views = "+".join(document["views"])
        return f"{outcome.status} {took}: views {views}, request_id {document['request_id']}"
    return f"{outcome.status} {took}"


def _result_events(url: str) -> list[tuple[str, dict[str, Any]]]:
    """The result events the rule forwarded since the last call: (detail-type, detail)."""
    from face3d.function import aws

    sqs = aws.client("sqs", REGION)
    found = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            event = json.loads(message["Body"])
            found.append((event["detail-type"], event["detail"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _describe_event(detail: dict[str, Any]) -> str:
    if "result" in detail:
        return f"{detail['result']['key']} version {detail['result']['version_id']}"
    return f"{detail['error']['code']}, retryable: {str(detail['error']['retryable']).lower()}"


def _save_dead_letters(output: Path, url: str, outcomes: list[Outcome], journal: Journal) -> None:
    """Move the DLQ's messages into `output/dead-letters/`, noting them per subject."""
    from face3d.function import aws

    sqs = aws.client("sqs", REGION)
    folder = output / "dead-letters"
    folder.mkdir()
    count = 0
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            count += 1
            body = json.loads(message["Body"])
            path = folder / f"{count:02d}-{body.get('subject', 'event')}.json"
            path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
            code = body.get("error", {}).get("code", "unhandled event")
            journal.step(str(body.get("subject", "?")), f"dead letter: {path} ({code})")
            for outcome in outcomes:
                if outcome.subject.name == body.get("subject"):
                    outcome.files[f"{folder.name}/{path.name}"] = path.stat().st_size
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _download(s3: Any, prefix: str, folder: Path, outcome: Outcome) -> None:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    for item in sorted(listing, key=lambda i: i["Key"]):
        name = item["Key"][len(prefix) :]
        data = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        (folder / name).write_bytes(data)
        outcome.files[name] = len(data)


def _save_inputs(subject: Subject, folder: Path) -> None:
    folder.mkdir()
    for upload in subject.uploads:
        (folder / upload.key.rsplit("/", 1)[-1]).write_bytes(upload.data)


def _render_preview(folder: Path, subject: Subject, outcome: Outcome) -> None:
    from face3d.viewer.preview import build_preview

    texture = folder / TEXTURE_NAME
    document = json.loads((folder / RESULT_DOCUMENT).read_text())
    uploads = {upload.key: upload.data for upload in subject.uploads}
    photos = {
        view: uploads[entry["key"]]
        for view, entry in document["inputs"].items()
        if entry["key"] in uploads
    }
    preview = build_preview(
        (folder / OBJ_NAME).read_bytes(),
        texture=texture.read_bytes() if texture.exists() else None,
        document=(folder / RESULT_DOCUMENT).read_bytes(),
        photos=photos,
        title=subject.name,
    )
    (folder / "preview.png").write_bytes(preview.png)
    outcome.files["preview.png"] = len(preview.png)


def _prepare_output(output: Path) -> None:
    if output.exists():
        if not (output / MARKER).exists() and any(output.iterdir()):
            raise ConfigurationError(
                INVALID_CONFIGURATION, f"{output} exists and is not a demo folder; choose another"
            )
        shutil.rmtree(output)
    output.mkdir(parents=True)
    (output / MARKER).write_text("made by face3d demo; replaced by the next run\n")


def _size(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} B"
