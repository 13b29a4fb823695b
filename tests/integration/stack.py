"""template.yaml deployed in moto's CloudFormation, for the template tests.

The SAM template is transformed by SAM's own translator (samtranslator) into plain
CloudFormation, which moto's CloudFormation deploys. moto creates the bucket, queues, rule,
function, role, policies, permissions and event source mapping; it ignores a bucket's
NotificationConfiguration and VersioningConfiguration and a queue policy's document, so
`Stack.complete` applies those from the template's own values, resolved by moto for the stack as
CloudFormation would resolve them.

moto runs a function in Docker, and its EventBridge rules do not invoke functions at all;
`run_functions_in_process` makes moto run the handler here instead, with the environment the
stack gave the function, and its rules invoke functions too, so that moto's own deliveries (an
S3 notification, an EventBridge rule, an SQS event source mapping) reach the real handler.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.parsing import clean_json
from moto.events.models import Rule
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from face3d.function import handler

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ARTIFACTS = "face3d-artifacts"
CODE_KEY = "reconstruct.zip"


class _NoManagedPolicies:
    """The template names no managed policy by name: nothing to look up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def cloudformation_template() -> str:
    """template.yaml as `sam deploy` hands it to CloudFormation: transformed, code in S3."""
    template = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{ARTIFACTS}/{CODE_KEY}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", REGION)  # the translator names the partition by it
        transformed = transform(template, {}, _NoManagedPolicies())
    return json.dumps(transformed)


def upload_code(s3: Any) -> None:
    """A stand-in for the package `sam build` makes: moto stores it, never runs it."""
    s3.create_bucket(Bucket=ARTIFACTS)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr("face3d/__init__.py", "")
    s3.put_object(Bucket=ARTIFACTS, Key=CODE_KEY, Body=archive.getvalue())


@dataclass
class Stack:
    name: str
    cloudformation: Any
    s3: Any

    @classmethod
    def deploy(cls, cloudformation: Any, s3: Any, name: str, **parameters: str) -> Stack:
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=cloudformation_template(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        stack = cls(name, cloudformation, s3)
        status = stack.description()["StackStatus"]
        assert status == "CREATE_COMPLETE", stack.description().get("StackStatusReason")
        return stack

    def description(self) -> dict[str, Any]:
        description: dict[str, Any] = self.cloudformation.describe_stacks(StackName=self.name)[
            "Stacks"
        ][0]
        return description

    def outputs(self) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in self.description().get("Outputs", [])}

    def resources(self) -> dict[str, str]:
        """Logical id -> physical id of every resource moto created."""
        summaries = self.cloudformation.list_stack_resources(StackName=self.name)[
            "StackResourceSummaries"
        ]
        return {
            s["LogicalResourceId"]: s["PhysicalResourceId"]
            for s in summaries
            if s["LogicalResourceId"]
        }

    def resolved(self, logical_id: str) -> dict[str, Any]:
        """A resource's properties as CloudFormation resolves them for this stack."""
        resource = self._template()["Resources"][logical_id]
        assert self.creates(logical_id), f"{logical_id} is not created in {self.name}"
        properties: dict[str, Any] = clean_json(resource["Properties"], self._resource_map())
        return properties

    def creates(self, logical_id: str) -> bool:
        """Whether the stack has the resource (its condition, if any, holds)."""
        condition = self._template()["Resources"][logical_id].get("Condition")
        return condition is None or bool(self._resource_map().lazy_condition_map[condition])

    def _resource_map(self) -> Any:
        backend = cloudformation_backends[ACCOUNT][REGION]
        return next(s for s in backend.stacks.values() if s.name == self.name).resource_map

    @staticmethod
    def _template() -> dict[str, Any]:
        template: dict[str, Any] = json.loads(cloudformation_template())
        return template

    def complete(self, sqs: Any) -> None:
        """Apply what moto's CloudFormation leaves out: versioning, notifications, policies."""
        bucket = self.outputs()["BucketName"]
        properties = self.resolved("DataBucket")
        self.s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"]
        )
        self.s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration=notification_request(properties["NotificationConfiguration"]),
        )
        for logical_id in ("DeadLetterQueuePolicy", "UploadQueuePolicy"):
            if not self.creates(logical_id):
                continue
            policy = self.resolved(logical_id)
            for url in policy["Queues"]:
                sqs.set_queue_attributes(
                    QueueUrl=url, Attributes={"Policy": json.dumps(policy["PolicyDocument"])}
                )


def notification_request(configuration: dict[str, Any]) -> dict[str, Any]:
    """A bucket's NotificationConfiguration as CloudFormation writes it, as S3's API takes it."""

    def common(entry: dict[str, Any]) -> dict[str, Any]:
        rules = entry.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {"Events": [entry["Event"]], "Filter": {"Key": {"FilterRules": rules}}}

    request: dict[str, Any] = {}
    if "LambdaConfigurations" in configuration:
        request["LambdaFunctionConfigurations"] = [
            {"LambdaFunctionArn": entry["Function"], **common(entry)}
            for entry in configuration["LambdaConfigurations"]
        ]
    if "QueueConfigurations" in configuration:
        request["QueueConfigurations"] = [
            {"QueueArn": entry["Queue"], **common(entry)}
            for entry in configuration["QueueConfigurations"]
        ]
    if configuration.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        request["EventBridgeConfiguration"] = {}
    return request


@contextmanager
def run_functions_in_process(
    monkeypatch: pytest.MonkeyPatch, extra_environment: dict[str, str]
) -> Iterator[list[dict[str, Any]]]:
    """Every function moto invokes runs the handler here, in its own environment.

    Yields the events the handler was invoked with, in order.
    """
    invoked: list[dict[str, Any]] = []

    def invoke(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str) else event
        invoked.append(payload)
        variables = function.environment_vars or {}
        with pytest.MonkeyPatch.context() as env:
            for name, value in {**variables, **extra_environment}.items():
                env.setenv(name, str(value))
            handler.install(None)  # a new container: settings from this environment
            try:
                answer = handler.lambda_handler(payload, _Context(function.function_name))
            except Exception as exc:  # noqa: BLE001 (Lambda reports it as a function error)
                return json.dumps({"errorType": type(exc).__name__}), True, ""
            finally:
                handler.install(None)
        return json.dumps(answer), False, ""

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
    monkeypatch.setattr(Rule, "send_to_targets", _send_to_targets_and_functions)
    yield invoked


_send_to_other_targets = Rule.send_to_targets


def _send_to_targets_and_functions(
    rule: Rule, event: dict[str, Any], transform_input: bool = True
) -> None:
    """moto's rules deliver to queues, logs and buses; EventBridge also invokes functions
    (asynchronously, with the event as it is): this delivers to those too."""
    if not rule.event_pattern.matches_event(event):
        return
    functions = [t for t in rule.targets if t["Arn"].startswith("arn:aws:lambda:")]
    for target in functions:
        get_backend(ACCOUNT, REGION).invoke(
            target["Arn"], None, json.dumps(event), {"x-amz-invocation-type": "Event"}, {}
        )
    others = [t for t in rule.targets if t not in functions]
    if others:
        everyone, rule.targets = rule.targets, others
        try:
            _send_to_other_targets(rule, event, transform_input)
        finally:
            rule.targets = everyone


@dataclass
class _Context:
    function_name: str
    aws_request_id: str = "req-moto"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:face3d"

    def get_remaining_time_in_millis(self) -> int:
        return 170_000


def environment() -> dict[str, str]:
    """What the test process adds to a function's environment: credentials for moto."""
    return {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
