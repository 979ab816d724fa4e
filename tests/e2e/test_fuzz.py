"""A bounded schemathesis run over every route of the local stack: no 5xx, every response as documented."""

from __future__ import annotations

import pytest
from fuzzing import fuzz

from sdcloud.local.stack import LocalStack

MIN_REQUESTS = 2000


def test_two_thousand_generated_requests_get_no_server_error_and_documented_answers(local_stack: LocalStack) -> None:
    run = fuzz(local_stack, max_examples=30, seed=1, min_requests=MIN_REQUESTS)

    print(f"\nfuzz: {run.summary()}")
    if run.failed_rounds:
        pytest.fail(f"{len(run.failed_rounds)} failed round(s); the first:\n{run.failed_rounds[0]}", pytrace=False)
    assert run.server_errors == 0, run.summary()
    assert run.requests >= MIN_REQUESTS, run.summary()
    assert run.statuses[400] and run.statuses[415] and run.statuses[404], run.summary()  # it reached the handlers
