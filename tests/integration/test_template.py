"""template.yaml, deployed in moto's CloudFormation once per Trigger: each wiring exists, and an
upload through it reaches the handler and produces the result (DESIGN.md sections 2 and 7)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from tests import photos
from tests.fakes import success_payload
from tests.integration.dashboard import alarm_arns, series
from tests.integration.harness import ENDPOINT, OUTPUT_FILES, RESULT_FILES, SECRET_ID, Pipeline
from tests.integration.stack import (
    ACCOUNT,
    REGION,
    Stack,
    environment,
    run_functions_in_process,
    upload_code,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:No application metrics:UserWarning"),
    # Alarms, bucket and queue policies, the function's invoke config: see stack.py.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning"),
]

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def clients(pipeline: Pipeline) -> dict[str, Any]:
    """moto's services (the pipeline fixture runs moto and mocks the 3dface endpoint)."""
    pipeline.api.post(ENDPOINT, json=success_payload())
    found = {
        name: boto3.client(name, region_name=REGION)
        for name in ("cloudformation", "cloudwatch", "lambda", "events", "iam", "s3", "sqs")
    }
    upload_code(found["s3"])
    return found


def deploy(clients: dict[str, Any], name: str, **parameters: str) -> Stack:
    stack = Stack.deploy(
        clients["cloudformation"],
        clients["s3"],
        name,
        Endpoint=ENDPOINT,
        SecretName=SECRET_ID,
        **parameters,
    )
    stack.complete(clients["sqs"])
    return stack


def function(clients: dict[str, Any], stack: Stack) -> dict[str, Any]:
    configuration: dict[str, Any] = clients["lambda"].get_function(
        FunctionName=stack.outputs()["FunctionName"]
    )
    return configuration


def role_policy(stack: Stack) -> list[dict[str, Any]]:
    """The statements of the function role's own policy (ReadInputs, WriteResults, ...), as
    CloudFormation resolves them for the stack (moto keeps a role's inline policies as text)."""
    role = stack.resolved("ReconstructFunctionRole")
    # (moto resolves AWS::NoValue in a list to None, where CloudFormation drops the item.)
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"] if s]


def lambda_permissions(clients: dict[str, Any], stack: Stack) -> list[dict[str, Any]]:
    policy = clients["lambda"].get_policy(FunctionName=stack.outputs()["FunctionName"])
    statements: list[dict[str, Any]] = json.loads(policy["Policy"])["Statement"]
    return statements


def notifications(clients: dict[str, Any], stack: Stack) -> dict[str, Any]:
    answer = clients["s3"].get_bucket_notification_configuration(
        Bucket=stack.outputs()["BucketName"]
    )
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def upload(clients: dict[str, Any], stack: Stack, key: str, data: bytes) -> None:
    clients["s3"].put_object(Bucket=stack.outputs()["BucketName"], Key=key, Body=data)


def results(clients: dict[str, Any], bucket: str, subject: str) -> dict[str, str]:
    """sha256 of each file under results/<subject>/ in `bucket`."""
    listing = clients["s3"].list_objects_v2(Bucket=bucket, Prefix=f"results/{subject}/")
    return {
        item["Key"].rsplit("/", 1)[1]: hashlib.sha256(
            clients["s3"].get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        ).hexdigest()
        for item in listing.get("Contents", [])
    }


def assert_common_wiring(clients: dict[str, Any], stack: Stack, result_bucket: str) -> None:
    bucket = stack.outputs()["BucketName"]
    assert bucket == f"{stack.name}-{ACCOUNT}-{REGION}"
    variables = function(clients, stack)["Configuration"]["Environment"]["Variables"]
    assert variables["INPUT_BUCKET"] == bucket
    assert variables["RESULT_BUCKET"] == result_bucket
    assert variables["INPUT_PREFIX"] == "incoming/"
    assert variables["DLQ_URL"] == stack.outputs()["DeadLetterQueueUrl"]
    assert variables["FACEPP_ENDPOINT"] == ENDPOINT
    statements = {s["Sid"]: s for s in role_policy(stack) if "Sid" in s}
    assert statements["ReadInputs"]["Resource"] == f"arn:aws:s3:::{bucket}/incoming/*"
    assert statements["WriteResults"]["Resource"] == f"arn:aws:s3:::{result_bucket}/results/*"
    assert set(statements["ListBucket"]["Resource"]) == {
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{result_bucket}",
    }
    assert stack.outputs()["ResultBucketName"] == result_bucket
    # Result events: onto the account's default bus, as source face3d only.
    assert variables["EVENT_BUS"] == "default"
    assert statements["SendResultEvents"] == {
        "Sid": "SendResultEvents",
        "Effect": "Allow",
        "Action": "events:PutEvents",
        "Resource": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        "Condition": {"StringEquals": {"events:source": "face3d"}},
    }
    assert_dashboard(clients, stack)


def assert_dashboard(clients: dict[str, Any], stack: Stack) -> None:
    """The dashboard exists, graphs this stack's function and DLQ, and shows its alarms."""
    body = clients["cloudwatch"].get_dashboard(DashboardName=stack.outputs()["DashboardName"])[
        "DashboardBody"
    ]
    queue_name = stack.outputs()["DeadLetterQueueUrl"].rsplit("/", 1)[1]
    graphed = {(s.namespace, s.values) for s in series(body) if s.namespace.startswith("AWS/")}
    assert graphed == {
        ("AWS/Lambda", (("FunctionName", stack.outputs()["FunctionName"]),)),
        ("AWS/SQS", (("QueueName", queue_name),)),
    }
    alarms = ("DeadLetterQueueAlarm", "FunctionErrorsAlarm", "FunctionThrottlesAlarm")
    assert alarm_arns(body) == [
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{stack.resolved(alarm)['AlarmName']}"
        for alarm in alarms
    ]


def test_trigger_s3_the_bucket_notifies_the_function(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = deploy(clients, "face3d-s3", Trigger="S3")
    bucket = stack.outputs()["BucketName"]
    function_arn = function(clients, stack)["Configuration"]["FunctionArn"]

    assert_common_wiring(clients, stack, result_bucket=bucket)
    assert stack.outputs()["Trigger"] == "S3"
    assert notifications(clients, stack) == {
        "LambdaFunctionConfigurations": [
            {
                "Id": notifications(clients, stack)["LambdaFunctionConfigurations"][0]["Id"],
                "LambdaFunctionArn": function_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
            }
        ]
    }
    (permission,) = lambda_permissions(clients, stack)
    assert permission["Principal"] == {"Service": "s3.amazonaws.com"}
    assert permission["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{bucket}"
    assert function(clients, stack)["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    assert not {"UploadQueue", "UploadRule", "UploadQueueMapping"} & set(stack.resources())

    # An upload: moto's S3 invokes the function, which runs the handler here.
    with run_functions_in_process(monkeypatch, environment()) as invoked:
        upload(clients, stack, "incoming/ada.jpg", photos.astronaut_jpeg())

    assert [event["Records"][0]["eventSource"] for event in invoked] == ["aws:s3"]
    assert sorted(results(clients, bucket, "ada")) == RESULT_FILES


def test_trigger_eventbridge_a_rule_on_object_created_invokes_the_function(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = deploy(clients, "face3d-eventbridge", Trigger="EventBridge")
    bucket = stack.outputs()["BucketName"]
    function_arn = function(clients, stack)["Configuration"]["FunctionArn"]
    dlq_url = stack.outputs()["DeadLetterQueueUrl"]
    dlq_arn = clients["sqs"].get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]

    assert_common_wiring(clients, stack, result_bucket=bucket)
    # (moto's S3 does not report EventBridgeConfiguration back: the uploads below show it is on.)
    assert stack.resolved("DataBucket")["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    rule_name = stack.resources()["UploadRule"]
    rule = clients["events"].describe_rule(Name=rule_name)
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }
    (target,) = clients["events"].list_targets_by_rule(Rule=rule_name)["Targets"]
    assert target["Arn"] == function_arn
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 21600}
    assert target["DeadLetterConfig"] == {"Arn": dlq_arn}
    (permission,) = lambda_permissions(clients, stack)
    assert permission["Principal"] == {"Service": "events.amazonaws.com"}
    assert permission["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
    dlq_policy = json.loads(
        clients["sqs"].get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["Policy"])[
            "Attributes"
        ]["Policy"]
    )
    (undelivered,) = [s for s in dlq_policy["Statement"] if s["Effect"] == "Allow"]
    assert undelivered["Principal"] == {"Service": "events.amazonaws.com"}
    assert undelivered["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}
    assert function(clients, stack)["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    assert not {"UploadQueue", "UploadInvokePermission"} & set(stack.resources())

    # An upload: moto's S3 sends the event to EventBridge, whose rule invokes the function; what
    # is written outside the input prefix does not match the rule.
    with run_functions_in_process(monkeypatch, environment()) as invoked:
        upload(clients, stack, "results/ada/face.obj", b"not an upload")
        upload(clients, stack, "incoming/ada.jpg", photos.astronaut_jpeg())

    assert [(event["source"], event["detail"]["object"]["key"]) for event in invoked] == [
        ("aws.s3", "incoming/ada.jpg")
    ]
    assert sorted(results(clients, bucket, "ada")) == RESULT_FILES


def test_trigger_sqs_the_bucket_fills_a_queue_the_function_polls(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with run_functions_in_process(monkeypatch, environment()) as invoked:
        # S3 sends an s3:TestEvent to the queue when the notification is set: the function
        # receives it first, and ignores it.
        stack = deploy(
            clients,
            "face3d-sqs",
            Trigger="SQS",
            FunctionTimeout="120",
            QueueMaximumConcurrency="3",
        )
    bucket = stack.outputs()["BucketName"]
    function_arn = function(clients, stack)["Configuration"]["FunctionArn"]
    queue_url = stack.outputs()["UploadQueueUrl"]
    queue = clients["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    dlq_arn = clients["sqs"].get_queue_attributes(
        QueueUrl=stack.outputs()["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    assert_common_wiring(clients, stack, result_bucket=bucket)
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 3,
    }
    assert queue["VisibilityTimeout"] == "1200"  # ten times the function timeout
    assert queue["MessageRetentionPeriod"] == "1209600"
    queue_policy = json.loads(queue["Policy"])
    (notify,) = [s for s in queue_policy["Statement"] if s["Effect"] == "Allow"]
    assert notify["Principal"] == {"Service": "s3.amazonaws.com"}
    assert notify["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}
    assert notifications(clients, stack)["QueueConfigurations"][0]["QueueArn"] == queue["QueueArn"]
    (mapping,) = [
        m
        for m in clients["lambda"].list_event_source_mappings()["EventSourceMappings"]
        if m["FunctionArn"] == function_arn
    ]
    assert mapping["EventSourceArn"] == queue["QueueArn"]
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}
    # MaximumConcurrency governs: no reserved concurrency to throttle the mapping.
    assert "Concurrency" not in function(clients, stack)
    poller_policy = stack.resolved("UploadQueuePollerPolicy")
    assert poller_policy["Roles"] == [stack.resources()["ReconstructFunctionRole"]]
    (poller,) = poller_policy["PolicyDocument"]["Statement"]
    assert poller["Resource"] == queue["QueueArn"]
    assert "sqs:ReceiveMessage" in poller["Action"]
    assert not {"UploadRule", "UploadInvokePermission"} & set(stack.resources())

    # An upload: moto's S3 sends it to the queue, whose event source mapping invokes the function.
    with run_functions_in_process(monkeypatch, environment()) as invoked_later:
        upload(clients, stack, "incoming/ada.jpg", photos.astronaut_jpeg())

    bodies = [json.loads(e["Records"][0]["body"]) for e in [*invoked, *invoked_later]]
    assert bodies[0]["Event"] == "s3:TestEvent"
    keys = [unquote_plus(b["Records"][0]["s3"]["object"]["key"]) for b in bodies[1:]]
    assert keys == ["incoming/ada.jpg"]
    assert sorted(results(clients, bucket, "ada")) == RESULT_FILES


def test_every_trigger_produces_the_same_result(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = {}
    for trigger in ("S3", "EventBridge", "SQS"):
        with run_functions_in_process(monkeypatch, environment()):
            stack = deploy(clients, f"face3d-same-{trigger.lower()}", Trigger=trigger)
            upload(clients, stack, "incoming/José 2.jpg", photos.grace_hopper_jpeg())
        found[trigger] = _comparable(clients, stack)

    assert found["S3"] == found["EventBridge"] == found["SQS"]
    assert found["S3"]["views"] == ["front"]


def _comparable(clients: dict[str, Any], stack: Stack) -> dict[str, Any]:
    bucket = stack.outputs()["BucketName"]
    document = json.loads(
        clients["s3"].get_object(Bucket=bucket, Key="results/José 2/result.json")["Body"].read()
    )
    files = results(clients, bucket, "José 2")
    return {
        "fingerprint": document["fingerprint"],
        "views": document["views"],
        "outputs": {name: files[name] for name in OUTPUT_FILES},
    }


def test_results_go_to_the_result_bucket_parameter_and_the_policy_follows(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clients["s3"].create_bucket(Bucket="face3d-results-elsewhere")
    clients["s3"].put_bucket_versioning(
        Bucket="face3d-results-elsewhere", VersioningConfiguration={"Status": "Enabled"}
    )
    stack = deploy(clients, "face3d-results", Trigger="S3", ResultBucket="face3d-results-elsewhere")

    assert_common_wiring(clients, stack, result_bucket="face3d-results-elsewhere")
    with run_functions_in_process(monkeypatch, environment()):
        upload(clients, stack, "incoming/ada.jpg", photos.astronaut_jpeg())

    assert sorted(results(clients, "face3d-results-elsewhere", "ada")) == RESULT_FILES
    assert results(clients, stack.outputs()["BucketName"], "ada") == {}


def test_result_events_reach_the_bus_the_parameter_names_or_none(
    clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_url = clients["sqs"].create_queue(QueueName="face3d-result-events")["QueueUrl"]
    queue_arn = clients["sqs"].get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    clients["events"].put_rule(
        Name="face3d-results", EventPattern=(EXAMPLES / "result-rule.json").read_text()
    )
    clients["events"].put_targets(Rule="face3d-results", Targets=[{"Id": "q", "Arn": queue_arn}])
    told = deploy(clients, "face3d-told", Trigger="S3")
    silent = deploy(clients, "face3d-silent", Trigger="S3", ResultEventBus="")

    assert told.outputs()["ResultEventBusName"] == "default"
    assert "ResultEventBusName" not in silent.outputs()
    variables = function(clients, silent)["Configuration"]["Environment"]["Variables"]
    assert variables.get("EVENT_BUS", "") == ""
    assert "SendResultEvents" not in {s.get("Sid") for s in role_policy(silent)}
    with run_functions_in_process(monkeypatch, environment()):
        upload(clients, silent, "incoming/ada.jpg", photos.astronaut_jpeg())
        upload(clients, told, "incoming/ada.jpg", photos.astronaut_jpeg())

    messages = clients["sqs"].receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    events = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert [(e["source"], e["detail-type"]) for e in events] == [("face3d", "Face3D Result Ready")]
    assert events[0]["detail"]["bucket"] == told.outputs()["BucketName"]
    assert sorted(results(clients, silent.outputs()["BucketName"], "ada")) == RESULT_FILES
