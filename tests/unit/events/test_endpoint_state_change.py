"""Reading "SageMaker Endpoint State Change" events (no AWS)."""

from __future__ import annotations

import pytest

from lambdas.logic.endpoint_lifecycle import MalformedEvent, StateChange


def event(status: str, time: str = "2026-11-25T18:08:00Z", **detail: str) -> dict:
    return {"time": time, "detail": {"EndpointName": "sd", "EndpointStatus": status, **detail}}


@pytest.mark.parametrize(
    ("sagemaker_status", "status"),
    [
        ("CREATING", "Creating"),
        ("Creating", "Creating"),
        ("IN_SERVICE", "InService"),
        ("InService", "InService"),
        ("UPDATING", "Updating"),
        ("SYSTEM_UPDATING", "Updating"),
        ("RollingBack", "Updating"),
        ("FAILED", "Failed"),
        ("OutOfService", "Failed"),
        ("UPDATE_ROLLBACK_FAILED", "Failed"),
        ("DELETING", "Deleting"),
        ("Deleted", "gone"),
        ("SOMETHING_NEW", None),
    ],
)
def test_sagemaker_statuses_map_to_the_contracts_statuses(sagemaker_status, status):
    assert StateChange.from_event(event(sagemaker_status)).status == status


def test_the_event_time_is_kept_in_the_tables_time_format():
    change = StateChange.from_event(event("FAILED", "2026-11-25T19:08:00+01:00", FailureReason="no capacity"))

    assert change == StateChange("sd", "FAILED", "2026-11-25T18:08:00.000000Z", "no capacity")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"time": "2026-11-25T18:08:00Z"}, "detail is missing"),
        ({"time": "2026-11-25T18:08:00Z", "detail": {"EndpointName": "sd"}}, "are required"),
        ({"time": "yesterday", "detail": {"EndpointName": "sd", "EndpointStatus": "CREATING"}}, "not an ISO-8601"),
    ],
)
def test_a_malformed_event_says_what_is_wrong(bad, message):
    with pytest.raises(MalformedEvent, match=message):
        StateChange.from_event(bad)
