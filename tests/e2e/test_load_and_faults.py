"""Load with faults on the local stack: 105 jobs submitted at once by three users from 12 threads, bad
requests mixed in, and a fourth user's key revoked while it is submitting too. No job is lost or stuck,
each user sees exactly their own jobs, and pagination returns each of them once, newest first."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from e2e_helpers import Api, poll, tiny_payload

USERS = ("ann", "ben", "cat")
JOBS_PER_USER = 35
PAGE = 7


def bad_requests(endpoint: str, models: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests that must each be a 4xx and create no job (keyword arguments of `Api.call`)."""
    good = {"endpoint_name": endpoint, "task": "txt2img", "payload": tiny_payload(models)}
    return [
        {"json": {**good, "payload": tiny_payload(models, steps=0)}},
        {"json": {**good, "payload": tiny_payload(models, override_settings={"sd_model_checkpoint": "nope"})}},
        {"json": {**good, "endpoint_name": "no-such-endpoint"}},
        {"data": b'{"endpoint_name": "\xff"}', "headers": {"Content-Type": "application/json"}},
        {"data": ("[" * 50_000).encode(), "headers": {"Content-Type": "application/json"}},
        {"data": b"endpoint_name=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ]


def submit(api: Api, request: dict[str, Any]) -> requests.Response:
    headers = {"x-api-key": api.key, **request.get("headers", {})}
    return requests.post(f"{api.url}/inferences", headers=headers, json=request.get("json"),
                         data=request.get("data"), timeout=60)


def all_pages(api: Api) -> list[dict[str, Any]]:
    jobs, token = [], None
    while True:
        page = api.ok("GET", "/inferences", params={"limit": PAGE, **({"next_token": token} if token else {})})
        assert len(page["inferences"]) <= PAGE
        jobs += page["inferences"]
        token = page.get("next_token")
        if not token:
            return jobs


@pytest.fixture(scope="module")
def users(admin: Api) -> dict[str, Api]:
    return {name: Api(admin.url, admin.ok("POST", "/users", 201, json={"name": name})["api_key"])
            for name in (*USERS, "dan")}


def test_a_hundred_concurrent_jobs_with_faults_end_isolated_and_paginated_exactly(
        admin: Api, users: dict[str, Api], models: dict[str, Any], endpoint: str) -> None:
    from lambdas.data.jobs import get_job

    work: list[tuple[str, dict[str, Any]]] = []
    for name in USERS:
        work += [(name, {"json": {"endpoint_name": endpoint, "task": "txt2img",
                                  "payload": tiny_payload(models, steps=1, seed=i)}}) for i in range(JOBS_PER_USER)]
        work += [(name, request) for request in bad_requests(endpoint, models)]
    work += [("dan", {"json": {"endpoint_name": endpoint, "task": "txt2img", "payload": tiny_payload(models, steps=1)}})
             for _ in range(10)]
    random.Random(15).shuffle(work)
    revoke_at = len(work) // 2

    def one(index: int) -> tuple[str, bool, int, Any]:
        name, request = work[index]
        good = "json" in request and request["json"]["payload"].get("steps") == 1 \
            and request["json"]["endpoint_name"] == endpoint
        if index == revoke_at:
            assert admin.call("DELETE", "/users/dan").status_code == 204
        response = submit(users[name], request)
        return name, good, response.status_code, response.json() if response.content else None

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(one, range(len(work))))

    # Then: every good submission of the three users is a 202 job, every bad one a 4xx in the error shape
    submitted: dict[str, set[str]] = {name: set() for name in users}
    for name, good, status, body in answers:
        if name == "dan":
            assert status in (202, 401), body  # before or after the revocation
            if status == 202:
                submitted["dan"].add(body["inference"]["id"])
        elif good:
            assert status == 202, body
            submitted[name].add(body["inference"]["id"])
        else:
            assert 400 <= status < 500 and body["message"], (status, body)
    assert all(len(submitted[name]) == JOBS_PER_USER for name in USERS)
    assert users["dan"].call("GET", "/inferences").status_code == 401  # the revoked key stops at once

    # Then: no job is lost or stuck: every one ends succeeded, the revoked user's too
    def ended(name: str) -> bool:
        return all(j["status"] in ("succeeded", "failed") for j in all_pages(users[name]))

    for name in USERS:
        assert poll(lambda name=name: ended(name), bool, timeout=600, interval=2.0), name
    for job_id in submitted["dan"]:
        job = poll(lambda job_id=job_id: get_job(job_id), lambda j: j.status != "in_progress", timeout=120)
        assert job.status == "succeeded", job

    # Then: each user sees exactly their own jobs, once each, newest first, all succeeded
    for name in USERS:
        listed = all_pages(users[name])
        assert [j["id"] for j in listed if j["id"] in submitted[name]] == [j["id"] for j in listed]
        assert sorted(j["id"] for j in listed) == sorted(submitted[name])
        assert [j["created_at"] for j in listed] == sorted((j["created_at"] for j in listed), reverse=True)
        assert {j["status"] for j in listed} == {"succeeded"}
        other = next(n for n in USERS if n != name)
        sample = sorted(submitted[other])[:3]
        assert all(users[name].call("GET", f"/inferences/{i}").status_code == 404 for i in sample)
