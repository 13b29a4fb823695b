"""The SQS adapter: failure envelopes onto the dead-letter queue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from face3d.errors import SQS_ERROR, TransientError
from face3d.function import aws
from face3d.function.failures import message_attributes

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class DeadLetterQueue:
    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def publish(self, envelope: dict[str, Any]) -> str:
        """Send one failure envelope; returns the message id.

        A failure to publish is raised, never swallowed: the invocation must then fail so that
        Lambda's own failure destination keeps the event.
        """
        try:
            answer = self._sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(envelope, ensure_ascii=False),
                MessageAttributes=message_attributes(envelope),  # type: ignore[arg-type]
            )
        except (ClientError, BotoCoreError) as exc:
            problem = aws.configuration_problem(exc)
            if problem is not None:
                raise problem from exc
            raise TransientError(
                SQS_ERROR, f"could not publish to the dead-letter queue: {type(exc).__name__}"
            ) from exc
        return answer["MessageId"]
