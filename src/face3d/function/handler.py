"""The Lambda entry point: Powertools, event parsing and wiring; the work is in processing."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from face3d.client.http import Credentials, FaceppClient
from face3d.client.pacing import Pacer
from face3d.client.retries import RetryPolicy
from face3d.function import aws
from face3d.function.dead_letters import DeadLetterQueue
from face3d.function.events import REDRIVE_MARKER
from face3d.function.processing import Report, SetProcessor, Status, Upload
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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("Event") == "s3:TestEvent":  # sent once when the notification is set up
        logger.info("ignored s3:TestEvent")
        return {"ignored": 1}
    work = processor()
    redrive = bool(event.get(REDRIVE_MARKER))
    counts: dict[str, int] = {}
    failure: BaseException | None = None
    for record in S3Event(event).records:
        # Powertools decodes only the first record's key; every record needs it.
        key = unquote_plus(record.s3.get_object.key)
        logger.set_correlation_id(work.describe(key).subject)
        upload = Upload(record.s3.bucket.name, key, record.event_time, redrive)
        try:
            report = work.handle(
                upload,
                holder=context.aws_request_id,
                remaining=lambda: context.get_remaining_time_in_millis() / 1000,
            )
        except Exception as exc:  # the other records still get their turn
            logger.exception("giving the event back to Lambda for a retry")
            failure = failure or exc
            continue
        _record(report)
        counts[report.status.value] = counts.get(report.status.value, 0) + 1
    _freeze_once()
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
    elif report.status is Status.FAILED:
        metrics.add_metric(name="SetsFailed", unit=MetricUnit.Count, value=1)
        with single_metric(
            name="SetsFailed", unit=MetricUnit.Count, value=1, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="ErrorCode", value=report.code or "UNKNOWN")
    elif report.status is Status.DUPLICATE:
        metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
    if report.api_seconds is not None:
        metrics.add_metric(
            name="ApiLatency", unit=MetricUnit.Milliseconds, value=report.api_seconds * 1000
        )
