import pytest

from face3d.contract import DEFAULT_ENDPOINT
from face3d.errors import INVALID_CONFIGURATION, ConfigurationError
from face3d.settings import FunctionSettings, Settings


def test_defaults_follow_the_design() -> None:
    settings = Settings.from_environ({})
    assert settings.endpoint == DEFAULT_ENDPOINT
    assert settings.request_budget_bytes == 2_000_000
    assert settings.secret_id is None


def test_values_are_parsed_and_empty_variables_count_as_unset() -> None:
    settings = Settings.from_environ(
        {
            "FACEPP_ENDPOINT": "http://127.0.0.1:8765/facepp/v1/3dface",
            "READ_TIMEOUT_S": "12.5",
            "MAX_ATTEMPTS": "3",
            "FACEPP_SECRET_ID": "",
        }
    )
    assert settings.endpoint == "http://127.0.0.1:8765/facepp/v1/3dface"
    assert settings.read_timeout_s == 12.5
    assert settings.max_attempts == 3
    assert settings.secret_id is None


def test_every_bad_variable_is_named_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environ(
            {
                "FACEPP_ENDPOINT": "ftp://example.com/x",
                "READ_TIMEOUT_S": "soon",
                "MAX_ATTEMPTS": "0",
                "REQUEST_BUDGET_BYTES": "9000000",
            }
        )
    err = caught.value
    assert err.code == INVALID_CONFIGURATION
    assert err.retryable
    assert not err.transient
    for variable in ("FACEPP_ENDPOINT", "READ_TIMEOUT_S", "MAX_ATTEMPTS", "REQUEST_BUDGET_BYTES"):
        assert variable in err.message


def test_the_secret_is_never_echoed() -> None:
    settings = Settings.from_environ({"FACEPP_API_KEY": "k", "FACEPP_API_SECRET": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environ({"FACEPP_API_SECRET": "s3cr3t-value", "MAX_ATTEMPTS": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(caught.value)


def test_valid_endpoint_refuses_what_cannot_be_an_endpoint() -> None:
    assert Settings.valid_endpoint("https://h/p") == "https://h/p"
    with pytest.raises(ConfigurationError, match="endpoint"):
        Settings.valid_endpoint("localhost:8765")


FUNCTION = {"FACEPP_SECRET_ID": "face3d/facepp", "DLQ_URL": "https://sqs.test/q"}


def test_the_function_serves_any_bucket_unless_told_its_input_bucket() -> None:
    settings = FunctionSettings.from_environ(FUNCTION)
    assert settings.input_bucket is None
    assert settings.result_bucket is None  # results go beside the inputs

    told = FunctionSettings.from_environ(
        {**FUNCTION, "INPUT_BUCKET": "face3d-123-us-east-1", "RESULT_BUCKET": "face3d.results"}
    )
    assert (told.input_bucket, told.result_bucket) == ("face3d-123-us-east-1", "face3d.results")


@pytest.mark.parametrize("name", ["Face3D", "ab", "-face3d", "face3d-", "face3d/x", "x" * 64])
def test_bucket_names_s3_would_refuse_are_named(name: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        FunctionSettings.from_environ({**FUNCTION, "INPUT_BUCKET": name, "RESULT_BUCKET": name})
    assert "INPUT_BUCKET" in caught.value.message
    assert "RESULT_BUCKET" in caught.value.message


def test_result_events_are_off_unless_a_bus_is_named() -> None:
    assert FunctionSettings.from_environ(FUNCTION).event_bus is None
    assert FunctionSettings.from_environ({**FUNCTION, "EVENT_BUS": ""}).event_bus is None
    arn = "arn:aws:events:eu-west-1:123456789012:event-bus/face3d-results"
    for bus in ("default", "face3d-results", "aws.partner/acme.com/123/results", arn):
        assert FunctionSettings.from_environ({**FUNCTION, "EVENT_BUS": bus}).event_bus == bus


@pytest.mark.parametrize("bus", ["face3d results", "bus:1", "x" * 257])
def test_a_bus_eventbridge_would_refuse_is_named(bus: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        FunctionSettings.from_environ({**FUNCTION, "EVENT_BUS": bus})
    assert "EVENT_BUS" in caught.value.message


def test_pacing_is_off_unless_the_api_qps_is_given() -> None:
    required = {"FACEPP_SECRET_ID": "face3d/facepp", "DLQ_URL": "https://sqs.test/q"}

    unpaced = FunctionSettings.from_environ(required)
    paced = FunctionSettings.from_environ({**required, "API_QPS": "2.5", "API_CALLERS": "4"})

    assert (unpaced.api_qps, unpaced.api_callers) == (0.0, 1)
    assert (paced.api_qps, paced.api_callers) == (2.5, 4)
    with pytest.raises(ConfigurationError) as caught:
        FunctionSettings.from_environ({**required, "API_QPS": "-1", "API_CALLERS": "0"})
    assert "API_QPS" in caught.value.message
    assert "API_CALLERS" in caught.value.message
