"""The README's `aws` commands, run as a new team would run them: the real AWS CLI, against local
AWS (moto's server on loopback), wired to the real handler through moto's own S3 -> SQS
notifications, with the offline engine as the endpoint.

The stack is laid out as `template.yaml` lays it out with `Trigger=SQS`: a versioned bucket that
notifies an upload queue of everything under `incoming/`, a dead-letter queue, events on the
default bus. A pump stands in for Lambda's event source mapping: it receives the upload queue's
messages and hands them, as an SQS batch, to `face3d.function.handler.lambda_handler`.

The README's sh blocks are taken in order; each block holding an `aws` command that can run
here runs whole in bash (its `echo` and `face3d` lines too), with the variables the README reads
from the deployed stack (`$BUCKET`, `$DLQ_URL`, ...) set to the local resources. Commands that
only make sense against real AWS are skipped, each with its reason in `SKIPPED`; an `aws`
command in neither table fails the test, so a new one is noticed. On the way, the operator's
commands run against the same bucket and queue: `face3d status coffee` and
`face3d backfill --dry-run` print what the README shows them printing, and
`face3d redrive --dry-run` leaves the message visible for the README's `aws sqs receive-message`.

The AWS CLI is installed once into ~/.cache/face3d-awscli (a venv and `pip install awscli`:
about 7 s the first time) and reused; where it cannot be installed, or `jq` (which the README
reads result.json with) is missing, the test is skipped saying why. The run itself takes about
10 s on a two-core machine (plus the engine server's start, shared with the other e2e tests):
20 CLI calls of a few tenths of a second each, and `aws s3api wait`, which asks every 5 s.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from face3d.function import handler
from face3d.samples import coffee_jpeg
from face3d.settings import FunctionSettings
from tests import photos, readme
from tests.e2e.servers import API_KEY, API_SECRET, EngineServer, moto_server
from tests.integration.harness import LambdaContext

# A region the AWS CLI v1 gives SQS no endpoint of its own in: in the others its `sqs` commands
# replace AWS_ENDPOINT_URL with the region's legacy queue.amazonaws.com name, and miss moto.
REGION = "eu-central-2"
STACK = "face3d-pipeline"
README_BUCKET = f"{STACK}-123456789012-us-east-1"  # in the README's examples of output
BUCKET = f"{STACK}-123456789012-{REGION}"
SECRET_ID = "face3d/facepp"
AWS_CLI = Path.home() / ".cache" / "face3d-awscli"

# What each `aws` command the README shows does here.
RUN = {
    "aws secretsmanager create-secret": "creates the secret the function then reads",
    "aws s3 cp": "uploads, which the bucket notifies the upload queue of",
    "aws s3api wait": "waits for result.json as the function writes it",
    "aws s3api get-object": "reads result.json, then face.obj by its version id",
    "aws s3api head-object": "reads the backfill manifest's ETag",
    "aws events put-rule": "the consumer's rule on the default bus",
    "aws events put-targets": "the consumer; a queue here, whose events go to consumer.py",
    "aws sqs receive-message": "reads the dead-letter queue",
}
SKIPPED = {
    "aws cloudformation describe-stacks": "reads a deployed stack's outputs: the test sets "
    "the variables they fill (PROVIDED) to the local resources",
    "aws lambda add-permission": "lets EventBridge invoke a deployed consumer function; here "
    "the rule's target is a queue the test hands to consumer.py",
    "aws events describe-rule": "only inside add-permission's --source-arn",
    "aws s3control create-job": "S3 Batch Operations, which moto does not run (the Batch "
    "Operations function is tested in tests/integration/test_operations.py)",
    "aws sts get-caller-identity": "only inside create-job's --account-id",
}
# The variables the README reads from the stack's outputs, and the placeholders it asks users
# to fill in; each becomes the local resource's value.
PROVIDED = ("BUCKET", "INPUT_BUCKET", "FUNCTION_NAME", "DLQ_URL", "CONSUMER_FUNCTION_ARN")
PLACEHOLDERS = {"YOUR_KEY": API_KEY, "YOUR_SECRET": API_SECRET}


def test_every_aws_command_shown_is_run_or_skipped_with_a_reason() -> None:
    commands = readme.shell_commands()
    shown = {operation for command in commands for operation in command.aws_operations()}

    assert shown - set(RUN) - set(SKIPPED) == set(), "new aws commands: run them or say why not"
    assert set(RUN) - shown == set(), "RUN names commands the README no longer shows"
    assert set(SKIPPED) - shown == set(), "SKIPPED names commands the README no longer shows"
    for command in commands:
        if skipped(command):
            unknown = set(command.assigned()) - set(PROVIDED)
            assert unknown == set(), f"README line {command.line} sets {unknown} from AWS"


def skipped(command: readme.ShellCommand) -> bool:
    """Whether the command calls AWS in a way only real AWS answers, itself or through a
    shell function that does (the README's `output`)."""
    if any(operation in SKIPPED for operation in command.aws_operations()):
        return True
    return any(
        re.search(rf"(?:^|\$\(|\s){name}\s", command.text) for name in functions_of_real_aws()
    )


@functools.cache
def functions_of_real_aws() -> frozenset[str]:
    return frozenset(
        name
        for command in readme.shell_commands()
        if (name := command.defines_function())
        and any(operation in SKIPPED for operation in command.aws_operations())
    )


def runs(command: readme.ShellCommand) -> bool:
    operations = command.aws_operations()
    return bool(operations) and not skipped(command)


@dataclass
class Ran:
    """What each command of a block printed, and the variables the block set."""

    out: list[str]
    err: list[str]
    variables: dict[str, str]


@dataclass
class Shell:
    """bash with the AWS CLI and `face3d` on its PATH, pointed at local AWS."""

    env: dict[str, str]
    cwd: Path

    def run_block(self, commands: list[readme.ShellCommand]) -> Ran:
        lines = ["set -euo pipefail"]
        assigned: list[str] = []
        for step, command in enumerate(commands):
            code = command.text
            for placeholder, value in PLACEHOLDERS.items():
                code = code.replace(placeholder, value)
            if skipped(command):
                lines.append(f": 'skipped: README line {command.line}'")
                continue
            assigned += command.assigned()
            # Braces, not a subshell: what the command assigns stays set for the next one.
            lines.append(f"echo {step} > .step\n{{ {code}\n}} > .out.{step} 2> .err.{step}")
        for name in assigned:
            lines.append(f'printf "%s=%s\\0" {name} "${name}" >> .variables')
        (self.cwd / ".variables").write_text("")
        done = subprocess.run(  # noqa: S603 (bash running the README's own commands)
            ["/bin/bash", "-c", "\n".join(lines)],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        out = [self._read(f".out.{step}") for step in range(len(commands))]
        err = [self._read(f".err.{step}") for step in range(len(commands))]
        if done.returncode != 0:
            step = int(self._read(".step") or 0)
            raise AssertionError(
                f"README line {commands[step].line} failed ({done.returncode}):\n"
                f"{commands[step].text}\n{err[step]}{done.stderr}"
            )
        variables = dict(
            entry.split("=", 1) for entry in self._read(".variables").split("\0") if entry
        )
        return Ran(out, err, variables)

    def run(self, command: str) -> str:
        """One command of the test's own (not the README's), in the same shell environment."""
        done = subprocess.run(  # noqa: S603
            ["/bin/bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{command}: {done.stderr}"
        return done.stdout

    def _read(self, name: str) -> str:
        path = self.cwd / name
        return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def aws_cli() -> Path:
    """The AWS CLI in its own cached venv, installed on first use."""
    aws = AWS_CLI / "bin" / "aws"
    if not _answers(aws):
        problem = _install_aws_cli()
        if problem is not None or not _answers(aws):
            print(f"the AWS CLI could not be installed into {AWS_CLI}: {problem}")
            pytest.skip(f"the AWS CLI cannot be installed here: {problem}")
    if shutil.which("jq") is None:
        print("jq is not installed (Debian: apt-get install jq); README reads result.json with it")
        pytest.skip("jq is not installed (Debian: apt-get install jq)")
    return aws.parent


def _install_aws_cli() -> str | None:
    """What went wrong installing the AWS CLI into AWS_CLI, or None."""
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(AWS_CLI)],
        [str(AWS_CLI / "bin" / "python"), "-m", "pip", "install", "--quiet", "awscli"],
    )
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(step[-2:])}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(step[-2:])}: " + " ".join(done.stderr.strip().splitlines()[-3:])
    return None


def _answers(aws: Path) -> bool:
    try:
        done = subprocess.run([str(aws), "--version"], capture_output=True, timeout=60)  # noqa: S603
    except OSError:
        return False
    return done.returncode == 0


@dataclass
class LocalAws:
    """The stack's resources on moto's server, and the clients the test checks them with."""

    endpoint: str
    s3: Any
    sqs: Any
    secrets: Any
    dlq_url: str
    upload_queue_url: str
    consumer_queue_url: str
    consumer_queue_arn: str


@pytest.fixture
def local_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    with moto_server() as endpoint:
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_SERVICE_NAME": "face3d",
            "POWERTOOLS_METRICS_NAMESPACE": "Face3D",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        boto3.DEFAULT_SESSION = None  # a session made earlier keeps the endpoint it read then
        try:
            s3 = boto3.client("s3", region_name=REGION)
            sqs = boto3.client("sqs", region_name=REGION)
            s3.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
            dlq_url = sqs.create_queue(QueueName=f"{STACK}-DeadLetterQueue")["QueueUrl"]
            upload_url = sqs.create_queue(QueueName=f"{STACK}-UploadQueue")["QueueUrl"]
            consumer_url = sqs.create_queue(QueueName="face3d-results-consumer")["QueueUrl"]
            s3.put_bucket_notification_configuration(
                Bucket=BUCKET,
                NotificationConfiguration={
                    "QueueConfigurations": [
                        {
                            "QueueArn": queue_arn(sqs, upload_url),
                            "Events": ["s3:ObjectCreated:*"],
                            "Filter": {
                                "Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}
                            },
                        }
                    ]
                },
            )
            yield LocalAws(
                endpoint,
                s3,
                sqs,
                boto3.client("secretsmanager", region_name=REGION),
                dlq_url,
                upload_url,
                consumer_url,
                queue_arn(sqs, consumer_url),
            )
        finally:
            boto3.DEFAULT_SESSION = None


def queue_arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


@dataclass
class Pump:
    """Lambda's SQS event source mapping, one batch at a time: the upload queue's messages are
    handed to the handler, and deleted unless the handler reports them failed."""

    sqs: Any
    queue_url: str
    queue_arn: str
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    running: threading.Event = field(default_factory=threading.Event)
    parked: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.running.set()
        self._thread = threading.Thread(target=self._loop, name="event-source", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Stop delivering, as in an outage: returns once no batch is in hand."""
        self.running.clear()
        assert self.parked.wait(60), "the pump did not stop"

    def resume(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.stopping.set()
        self.running.set()
        self._thread.join(60)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            if not self.running.is_set():
                self.parked.set()
                self.running.wait()
                self.parked.clear()
                continue
            try:
                self._once()
            except Exception as exc:  # noqa: BLE001 (the test reports it)
                self.errors.append(exc)

    def _once(self) -> None:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        messages = answer.get("Messages", [])
        if not messages:
            return
        event = {"Records": [self._record(message) for message in messages]}
        result = handler.lambda_handler(event, LambdaContext(f"pump-{len(self.results)}"))
        self.results.append(result)
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


@pytest.fixture
def pump(local_aws: LocalAws, engine_server: EngineServer) -> Iterator[Pump]:
    settings = FunctionSettings.from_environ(
        {
            "FACEPP_SECRET_ID": SECRET_ID,
            "FACEPP_ENDPOINT": engine_server.endpoint,
            "INPUT_BUCKET": BUCKET,
            "DLQ_URL": local_aws.dlq_url,
            "EVENT_BUS": "default",
            "FUNCTION_TIMEOUT_S": "180",
        }
    )
    handler.install(handler.build_processor(settings, region=REGION))
    running = Pump(
        local_aws.sqs,
        local_aws.upload_queue_url,
        queue_arn(local_aws.sqs, local_aws.upload_queue_url),
    )
    try:
        yield running
    finally:
        running.stop()
        handler.install(None)


@pytest.fixture
def shell(aws_cli: Path, local_aws: LocalAws, tmp_path: Path) -> Shell:
    work = tmp_path / "work"
    (work / "docs" / "examples").mkdir(parents=True)
    shutil.copy(readme.ROOT / "docs" / "examples" / "result-rule.json", work / "docs" / "examples")
    (work / "ada.jpg").write_bytes(photos.astronaut_jpeg())
    (work / "grace-front.png").write_bytes(photos.grace_hopper_png())
    (work / "grace-left.jpg").write_bytes(photos.grace_hopper_jpeg())
    (work / "coffee.jpg").write_bytes(coffee_jpeg())
    (work / "hopper.jpg").write_bytes(photos.grace_hopper_jpeg())
    env = {
        "PATH": os.pathsep.join(
            [str(aws_cli), str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]
        ),
        "HOME": str(tmp_path),  # no ~/.aws of the machine's
        "AWS_ENDPOINT_URL": local_aws.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_PAGER": "",
        "BUCKET": BUCKET,
        "INPUT_BUCKET": BUCKET,
        "FUNCTION_NAME": f"{STACK}-ReconstructFunction",
        "DLQ_URL": local_aws.dlq_url,
        "CONSUMER_FUNCTION_ARN": local_aws.consumer_queue_arn,
    }
    assert set(PROVIDED) <= set(env)
    return Shell(env, work)


def readme_blocks() -> list[list[readme.ShellCommand]]:
    """The README's sh blocks that hold a command to run here, in the README's order."""
    by_block: dict[int, list[readme.ShellCommand]] = {}
    for command in readme.shell_commands():
        by_block.setdefault(command.block, []).append(command)
    return [commands for commands in by_block.values() if any(runs(c) for c in commands)]


# Each block of the README that runs here, known by a command in it; a new block fails the test.
BLOCKS = {
    "aws secretsmanager create-secret": "the API credentials",
    "aws s3api wait": "a one-image set and a folder set, results read by version id",
    "aws events put-rule": "a consumer of result events",
    "aws s3api head-object": "the Batch Operations backfill's manifest",
    "aws sqs receive-message": "the dead-letter queue",
}


def test_the_readme_aws_commands_against_local_aws(
    shell: Shell, local_aws: LocalAws, pump: Pump
) -> None:
    blocks = readme_blocks()
    named = [block_name(block) for block in blocks]
    assert sorted(named) == sorted(BLOCKS), "a block of aws commands the test does not check"

    for name, block in zip(named, blocks, strict=True):
        before = BEFORE.get(name)
        if before is not None:
            before(shell, local_aws, pump)
        ran = shell.run_block(block)
        AFTER[name](shell, local_aws, ran)

    assert pump.errors == []
    assert all(not result.get("batchItemFailures") for result in pump.results), pump.results


def block_name(block: list[readme.ShellCommand]) -> str:
    (name,) = {op for command in block for op in command.aws_operations() if op in BLOCKS}
    return name


def after_secret(shell: Shell, aws: LocalAws, ran: Ran) -> None:
    secret = aws.secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"]
    assert json.loads(secret) == {"api_key": API_KEY, "api_secret": API_SECRET}


def after_use(shell: Shell, aws: LocalAws, ran: Ran) -> None:
    result = json.loads((shell.cwd / "result.json").read_text())
    assert result["subject"] == "grace"
    assert result["views"] == ["front", "left"]
    manifest = json.loads((shell.cwd / "manifest.json").read_text())
    assert result["metadata"] == manifest["metadata"]
    model = (shell.cwd / "face.obj").read_bytes()
    record = result["outputs"]["face.obj"]
    assert hashlib.sha256(model).hexdigest() == record["sha256"]
    assert len(model) == record["size"]
    # The one-image set was processed too.
    wait_for(aws, "results/ada/result.json")
    ada = json.loads(aws.s3.get_object(Bucket=BUCKET, Key="results/ada/result.json")["Body"].read())
    assert ada["views"] == ["front"]


def after_events(shell: Shell, aws: LocalAws, ran: Ran) -> None:
    # Two more subjects, now that the rule is there: one model, one photo without a face.
    shell.run('aws s3 cp hopper.jpg "s3://$BUCKET/incoming/hopper.jpg"')
    shell.run('aws s3 cp coffee.jpg "s3://$BUCKET/incoming/coffee.jpg"')
    wait_for(aws, "results/hopper/result.json")
    wait_for(aws, "results/coffee/error.json")
    consumer = load_consumer()

    told = {}
    for event in consumer_events(aws, {"hopper", "coffee"}):
        told[event["detail"]["subject"]] = consumer.lambda_handler(event)

    model = aws.s3.get_object(Bucket=BUCKET, Key="results/hopper/face.obj")["Body"].read()
    assert told == {
        "hopper": {"subject": "hopper", "views": ["front"], "obj_bytes": len(model)},
        "coffee": {"subject": "coffee", "failed": "NO_FACE_FOUND"},
    }


def before_backfill(shell: Shell, aws: LocalAws, pump: Pump) -> None:
    """An outage: a photo whose notification never reaches the function."""
    pump.pause()
    aws.s3.put_object(Bucket=BUCKET, Key="incoming/dorothy/front.jpg", Body=photos.astronaut_jpeg())
    aws.s3.put_object(Bucket=BUCKET, Key="incoming/dorothy/manifest.json", Body=b"{}")
    while messages := aws.sqs.receive_message(
        QueueUrl=aws.upload_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", []):
        for message in messages:
            aws.sqs.delete_message(
                QueueUrl=aws.upload_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    pump.resume()
    shows_as_readme_says(shell, "face3d backfill --dry-run")


def after_backfill(shell: Shell, aws: LocalAws, ran: Ran) -> None:
    manifest = (shell.cwd / "backfill.csv").read_text()
    assert manifest == f"{BUCKET},incoming/dorothy/manifest.json\n"
    stored = aws.s3.get_object(Bucket=BUCKET, Key="backfill/manifest.csv")
    assert stored["Body"].read().decode() == manifest
    assert ran.variables["ETAG"] == stored["ETag"]  # quoted, as create-job's --manifest takes it


def after_failures(shell: Shell, aws: LocalAws, ran: Ran) -> None:
    (printed,) = [out for out in ran.out if out]
    (message,) = json.loads(printed)["Messages"]
    body = json.loads(message["Body"])
    assert body["schema"] == "face3d.failure/v1"
    assert body["subject"] == "coffee"
    assert body["error"]["code"] == "NO_FACE_FOUND"
    assert body["error"]["retryable"] is False
    attributes = message["MessageAttributes"]
    assert attributes["error_code"]["StringValue"] == "NO_FACE_FOUND"
    assert attributes["retryable"]["StringValue"] == "false"


def before_failures(shell: Shell, aws: LocalAws, pump: Pump) -> None:
    """`face3d redrive --dry-run` reads the queue and changes nothing: the message it read is
    visible again at once, for the README's `aws sqs receive-message` right after."""
    shows_as_readme_says(shell, "face3d status coffee")
    printed = shell.run("face3d redrive --dry-run")
    assert printed.splitlines()[-1] == (
        "redrive: would replay 0 message(s); left 1 not retryable and 0 unrecognised on the queue"
    )


BEFORE = {"aws s3api head-object": before_backfill, "aws sqs receive-message": before_failures}
AFTER = {
    "aws secretsmanager create-secret": after_secret,
    "aws s3api wait": after_use,
    "aws events put-rule": after_events,
    "aws s3api head-object": after_backfill,
    "aws sqs receive-message": after_failures,
}


def shows_as_readme_says(shell: Shell, command: str) -> None:
    """`command` prints what the README shows it printing, line by line, in order (the README's
    example bucket is the local one here)."""
    everything = shell.run(command)
    printed = everything.splitlines()
    for shown in readme.example_output(command):
        shown = shown.replace(README_BUCKET, BUCKET)
        while printed and not readme.matches(shown, printed[0]):
            printed.pop(0)
        assert printed, f"{command} printed no line like the README's {shown!r}: {everything}"
        printed.pop(0)


def wait_for(aws: LocalAws, key: str) -> None:
    aws.s3.get_waiter("object_exists").wait(
        Bucket=BUCKET, Key=key, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def consumer_events(aws: LocalAws, subjects: set[str]) -> list[dict[str, Any]]:
    """The events the rule delivered to the consumer for `subjects`, once each."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while set(found) != subjects and time.monotonic() < deadline:
        answer = aws.sqs.receive_message(
            QueueUrl=aws.consumer_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in answer.get("Messages", []):
            event = json.loads(message["Body"])
            subject = event["detail"]["subject"]
            assert subject not in found, f"{subject} was told twice"
            if subject in subjects:
                found[subject] = event
    assert set(found) == subjects
    return list(found.values())


def load_consumer() -> Any:
    """docs/examples/consumer.py, as Lambda would load it (its S3 client made at import)."""
    path = readme.ROOT / "docs" / "examples" / "consumer.py"
    spec = importlib.util.spec_from_file_location("face3d_readme_consumer", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
