"""Endpoints: one SageMaker async endpoint each; the table is the record, EventBridge events update its status.

The API name `sd` is SageMaker endpoint `{resource_prefix}-sd` (see `sagemaker.sagemaker_name`), which also
keys the table. An endpoint being deleted stays listed as Deleting until SageMaker no longer knows it;
reading it then removes the record, so its name can be used again.
"""

from __future__ import annotations

import uuid
from typing import Any

from api_schema.resources import CreateEndpointRequest, Endpoint, EndpointList
from lambdas.data import endpoints as data
from lambdas.data import sagemaker
from lambdas.data.jobs import now_iso
from lambdas.data.pages import decode_token, encode_token
from lambdas.errors import Conflict, InvalidInput, NotFound
from lambdas.logic.caller import Caller


def to_endpoint(item: dict[str, Any]) -> Endpoint:
    fields = {name: item.get(name) for name in Endpoint.model_fields}
    return Endpoint.model_validate({**fields, "name": sagemaker.api_name(item["name"])})


def _forget_if_gone(item: dict[str, Any]) -> bool:
    """Drop the record of a Deleting endpoint that SageMaker no longer has; True when dropped."""
    if item["status"] == "Deleting" and not sagemaker.endpoint_exists(item["name"]):
        data.delete_endpoint_item(item["name"])
        return True
    return False


def _get(name: str) -> dict[str, Any]:
    item = data.get_endpoint(sagemaker.sagemaker_name(name))
    if item is None or _forget_if_gone(item):
        raise NotFound(f"endpoint '{name}' not found", field="name")
    return item


def create_endpoint(caller: Caller, request: CreateEndpointRequest) -> Endpoint:
    from botocore.exceptions import ClientError

    caller.require_admin()
    if request.min_instances > request.max_instances:
        raise InvalidInput("min_instances must not exceed max_instances", field="min_instances")
    endpoint = sagemaker.sagemaker_name(request.name)
    if len(endpoint) > sagemaker.MAX_NAME_LENGTH:
        limit = sagemaker.MAX_NAME_LENGTH - len(endpoint) + len(request.name)
        raise InvalidInput(f"name may have at most {limit} characters", field="name")
    existing = data.get_endpoint(endpoint)
    if existing and not _forget_if_gone(existing):
        raise Conflict(f"endpoint '{request.name}' exists already ({existing['status']})", field="name")
    suffix = uuid.uuid4().hex[:8]
    now = now_iso()
    item: dict[str, Any] = {
        "name": endpoint,
        "instance_type": request.instance_type,
        "min_instances": request.min_instances,
        "max_instances": request.max_instances,
        "status": "Creating",
        "created_at": now,
        "updated_at": now,
        "model_name": sagemaker.part_name(endpoint, suffix),
        "config_name": sagemaker.part_name(endpoint, suffix),
    }
    data.put_new_endpoint(item)
    try:
        # SageMaker needs one instance to create an endpoint; min 0 is reached by autoscaling afterwards.
        sagemaker.create_endpoint(endpoint, item["model_name"], item["config_name"], request.instance_type,
                                  max(1, request.min_instances))
    except Exception as exc:
        data.delete_endpoint_item(endpoint)
        if not isinstance(exc, ClientError):
            raise
        error = exc.response["Error"]
        if error["Code"] == "ResourceLimitExceeded":
            raise Conflict(f"SageMaker quota reached: {error['Message']}", field="instance_type") from exc
        raise InvalidInput(f"SageMaker refused the endpoint: {error['Message']}", field="instance_type") from exc
    return to_endpoint(item)


def get_endpoint(name: str) -> Endpoint:
    return to_endpoint(_get(name))


def list_endpoints(status: str | None, limit: int, next_token: str | None) -> EndpointList:
    scope = f"endpoints:{status or '*'}"
    page = data.list_endpoints(limit, decode_token(scope, next_token, data.PAGE_KEY), status)
    items = [i for i in page.items if not _forget_if_gone(i)]
    return EndpointList(endpoints=[to_endpoint(i) for i in items], next_token=encode_token(scope, page.next_key))


def delete_endpoint(caller: Caller, name: str) -> Endpoint:
    from botocore.exceptions import ClientError

    caller.require_admin()
    item = _get(name)
    try:
        sagemaker.delete_endpoint(item["name"], item["model_name"], item["config_name"])
    except ClientError as exc:
        reason = exc.response["Error"]["Message"]
        raise Conflict(f"SageMaker cannot delete '{name}' now: {reason}", field="name") from exc
    data.set_status(item["name"], "Deleting")
    return to_endpoint({**item, "status": "Deleting"})


def require_in_service(name: str) -> None:
    """The endpoint a job is sent to must exist (400) and be InService (409 naming its state)."""
    item = data.get_endpoint(sagemaker.sagemaker_name(name))
    if item is None:
        raise InvalidInput(f"endpoint '{name}' not found", field="endpoint_name")
    if item["status"] != "InService":
        raise Conflict(f"endpoint '{name}' is {item['status']}, not InService", field="endpoint_name")
