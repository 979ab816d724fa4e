"""Endpoints: one SageMaker async endpoint each; the table is the record, EventBridge events update its status.

The API name `sd` is SageMaker endpoint `{resource_prefix}-sd` (see `sagemaker.sagemaker_name`), which also
keys the table. An endpoint being deleted stays listed as Deleting until SageMaker no longer knows it;
reading it then removes the record, so its name can be used again.
"""

from __future__ import annotations

import uuid

from api_schema.resources import CreateEndpointRequest, Endpoint, EndpointList
from lambdas.data import endpoints as data
from lambdas.data import sagemaker
from lambdas.data.dynamo import now_iso
from lambdas.data.pages import decode_token, encode_token
from lambdas.data.records import EndpointRecord
from lambdas.errors import Conflict, InvalidInput, NotFound
from lambdas.logic.caller import Caller


def to_endpoint(record: EndpointRecord) -> Endpoint:
    return Endpoint(name=sagemaker.api_name(record.name), instance_type=record.instance_type,
                    min_instances=record.min_instances, max_instances=record.max_instances, status=record.status,
                    failure_reason=record.failure_reason, created_at=record.created_at, updated_at=record.updated_at)


def _forget_if_gone(record: EndpointRecord) -> bool:
    """Drop the record of a Deleting endpoint that SageMaker no longer has; True when dropped."""
    if record.status == "Deleting" and not sagemaker.endpoint_exists(record.name):
        data.delete_endpoint_item(record.name)
        return True
    return False


def _get(name: str) -> EndpointRecord:
    record = data.get_endpoint(sagemaker.sagemaker_name(name))
    if record is None or _forget_if_gone(record):
        raise NotFound(f"endpoint '{name}' not found", field="name")
    return record


def create_endpoint(caller: Caller, request: CreateEndpointRequest) -> Endpoint:
    caller.require_admin()
    if request.min_instances > request.max_instances:
        raise InvalidInput("min_instances must not exceed max_instances", field="min_instances")
    endpoint = sagemaker.sagemaker_name(request.name)
    if len(endpoint) > sagemaker.MAX_NAME_LENGTH:
        limit = sagemaker.MAX_NAME_LENGTH - len(endpoint) + len(request.name)
        raise InvalidInput(f"name may have at most {limit} characters", field="name")
    existing = data.get_endpoint(endpoint)
    if existing and not _forget_if_gone(existing):
        raise Conflict(f"endpoint '{request.name}' exists already ({existing.status})", field="name")
    part_name = sagemaker.part_name(endpoint, uuid.uuid4().hex[:8])
    now = now_iso()
    record = data.put_new_endpoint(EndpointRecord(
        name=endpoint, instance_type=request.instance_type, min_instances=request.min_instances,
        max_instances=request.max_instances, status="Creating", created_at=now, updated_at=now,
        model_name=part_name, config_name=part_name,
    ))
    try:
        # SageMaker needs one instance to create an endpoint; min 0 is reached by autoscaling afterwards.
        sagemaker.create_endpoint(endpoint, part_name, part_name, request.instance_type,
                                  max(1, request.min_instances))
    except Exception:
        data.delete_endpoint_item(endpoint)
        raise
    return to_endpoint(record)


def get_endpoint(name: str) -> Endpoint:
    return to_endpoint(_get(name))


def list_endpoints(status: str | None, limit: int, next_token: str | None) -> EndpointList:
    scope = f"endpoints:{status or '*'}"
    page = data.list_endpoints(limit, decode_token(scope, next_token, data.PAGE_KEY), status)
    records = [r for r in page.items if not _forget_if_gone(r)]
    return EndpointList(endpoints=[to_endpoint(r) for r in records], next_token=encode_token(scope, page.next_key))


def delete_endpoint(caller: Caller, name: str) -> Endpoint:
    caller.require_admin()
    record = _get(name)
    sagemaker.delete_endpoint(record.name, record.model_name, record.config_name)
    deleting = data.set_status(record.name, "Deleting")
    return to_endpoint(deleting or record.model_copy(update={"status": "Deleting"}))


def require_in_service(name: str) -> None:
    """The endpoint a job is sent to must exist (400) and be InService (409 naming its state)."""
    record = data.get_endpoint(sagemaker.sagemaker_name(name))
    if record is None:
        raise InvalidInput(f"endpoint '{name}' not found", field="endpoint_name")
    if record.status != "InService":
        raise Conflict(f"endpoint '{name}' is {record.status}, not InService", field="endpoint_name")
