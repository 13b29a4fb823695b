"""The Lambda entry point: Powertools, event parsing and wiring; the work is in processing."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from face3d.client.http import Credentials, FaceppClient
from face3d.client.pacing import Pacer
from face3d.client.retries import RetryPolicy
from face3d.function import aws
from face3d.function.dead_letters import DeadLetterQueue
from face3d.function.events import Ignored, Item, is_sqs_batch, read_event, read_message
from face3d.function.processing import Report, SetProcessor, Status, Upload
from face3d.function.result_events import ResultEvents
from face3d.function.secrets import fetch_credentials
from face3d.function.storage import Storage
from face3d.settings import FunctionSettings, tracing_enabled

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SERVICE = "face3d"
logger = Logger(service=SERVICE)
NAMESPACE = "Face3D"
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
# The face3d.* modules log through the standard library: give them Powertools' JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"face3d"})
# At DEBUG botocore logs response bodies, GetSecretValue's (the API secret) among them. Whatever
# the root level, the SDK and HTTP libraries log warnings and errors only.
for _name in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def build_processor(settings: FunctionSettings, *, region: str | None = None) -> SetProcessor:
    """A processor for `settings` with its own AWS clients (in `region`, or the SDK's default)
    and HTTP session: what the handler builds once per container, and what an embedding (the
    demo) builds from explicit parts."""
    # Clients from the SDK's default session: Powertools' own provider would make a session of
    # its own, which loads the SDK's data again (a tenth of a second of a cold start).
    provider = SecretsProvider(boto3_client=aws.client("secretsmanager", region))

    def credentials(force: bool) -> Credentials:
        return fetch_credentials(
            settings.secret_id, max_age=settings.secret_max_age_s, force=force, provider=provider
        )

    retry = RetryPolicy(
        max_attempts=settings.max_attempts,
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
    )
    return SetProcessor(
        settings,
        Storage.connect(region),
        # Its client is made when a set first fails: most containers never need it.
        DeadLetterQueue(cast("SQSClient", _ClientOnFirstUse("sqs", region)), settings.dlq_url),
        FaceppClient(
            settings.endpoint,
            retry=retry,
            pacer=Pacer.for_share(settings.api_qps, settings.api_callers),
        ),
        credentials,
        events=ResultEvents.connect(settings.event_bus, region),
    )


class _ClientOnFirstUse:
    """An AWS client, made on first use."""

    def __init__(self, service: str, region: str | None) -> None:
        self._service = service
        self._region = region
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = aws.client(self._service, self._region)
        return getattr(self._client, name)


_installed: SetProcessor | None = None
_frozen = False


def install(processor: SetProcessor | None) -> None:
    """Handle the following invocations with `processor`; None forgets it, and the next
    invocation builds one from the environment again, as a new container would."""
    global _installed
    _installed = processor
    _from_environment.cache_clear()


def processor() -> SetProcessor:
    """The installed processor, or the one built from the environment, once per container:
    settings, clients and the HTTP session live across warm invocations."""
    return _installed or _from_environment()


@cache
def _from_environment() -> SetProcessor:
    return build_processor(FunctionSettings.from_environ())


# With an SQS trigger, each message that raised is reported back (`batchItemFailures`) and only
# it is delivered again; the others are deleted. Never one exception for the whole batch: a batch
# whose every message failed is reported the same way.
_batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _traced(handler: _Handler) -> _Handler:
    """The handler under Powertools' Tracer where tracing is on. Only there: importing the X-Ray
    SDK takes about a tenth of a second of every cold start."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    return cast(_Handler, Tracer(service=SERVICE).capture_lambda_handler(handler))


def _freeze_once() -> None:
    """After the first invocation, what exists (modules, SDK models, clients, caches) lives as
    long as the container: the garbage collector's full passes need not walk it again. Walking
    it cost a warm invocation a tenth of its time, in parsing the API's answer."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


@logger.inject_lambda_context(clear_state=True)
@_traced
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Any event AWS delivers uploads in (DESIGN.md section 2): S3 notifications, EventBridge's
    S3 events, SNS, or an SQS batch wrapping any of them."""
    work = processor()
    try:
        if is_sqs_batch(event):
            handle_message = partial(_handle_message, work=work, context=context)
            return dict(process_partial_response(event, handle_message, _batch, context))
        return _handle(work, read_event(event, input_bucket=work.settings.input_bucket), context)
    finally:
        _freeze_once()


def _handle_message(record: SQSRecord, *, work: SetProcessor, context: LambdaContext) -> None:
    """One SQS message: raises (the message is delivered again) only to give a set back.

    A set that failed permanently returns normally: its message is deleted, never retried.
    """
    items = read_message(record.body, input_bucket=work.settings.input_bucket)
    _handle(work, items, context)


def _handle(work: SetProcessor, items: list[Item], context: LambdaContext) -> dict[str, int]:
    """Each item in turn; raises the first failure once all had their turn."""
    counts: dict[str, int] = {}
    failure: BaseException | None = None
    for item in items:
        if isinstance(item, Ignored):
            logger.info(item.describe())
            metrics.add_metric(name="RecordsIgnored", unit=MetricUnit.Count, value=1)
            counts[Status.IGNORED.value] = counts.get(Status.IGNORED.value, 0) + 1
            continue
        logger.set_correlation_id(work.describe(item.key).subject)
        upload = Upload(
            item.bucket,
            item.key,
            item.event_time,
            redrive=item.replay.redrive,
            retry_failed=item.replay.retry_failed,
            etag=item.etag,
        )
        try:
            report = work.handle(
                upload,
                holder=context.aws_request_id,
                remaining=lambda: context.get_remaining_time_in_millis() / 1000,
            )
        except Exception as exc:  # the other records still get their turn
            logger.exception("giving %s back to Lambda for a retry", item.key)
            failure = failure or exc
            continue
        _record(report)
        counts[report.status.value] = counts.get(report.status.value, 0) + 1
    if failure is not None:
        raise failure
    return counts


def _record(report: Report) -> None:
    metrics.add_metric(name="UploadsReceived", unit=MetricUnit.Count, value=1)
    if report.status is Status.SUCCEEDED:
        metrics.add_metric(name="SetsSucceeded", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="ImagesTransformed", unit=MetricUnit.Count, value=report.images_transformed
        )
        if report.answer_reused:  # written from a stored answer: a paid call saved
            metrics.add_metric(name="AnswersReused", unit=MetricUnit.Count, value=1)
    elif report.status is Status.FAILED:
        metrics.add_metric(name="SetsFailed", unit=MetricUnit.Count, value=1)
        # The service dimension named here, not taken from POWERTOOLS_SERVICE_NAME: the
        # dashboard's search names this exact dimension set.
        with single_metric(
            name="SetsFailed",
            unit=MetricUnit.Count,
            value=1,
            namespace=NAMESPACE,
            default_dimensions={"service": SERVICE},
        ) as metric:
            metric.add_dimension(name="ErrorCode", value=report.code or "UNKNOWN")
    elif report.status is Status.DUPLICATE:
        metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
    if report.result_event is not None:
        told = "ResultEventsPublished" if report.result_event else "ResultEventsFailed"
        metrics.add_metric(name=told, unit=MetricUnit.Count, value=1)
    if report.api_seconds is not None:
        metrics.add_metric(
            name="ApiLatency", unit=MetricUnit.Milliseconds, value=report.api_seconds * 1000
        )
