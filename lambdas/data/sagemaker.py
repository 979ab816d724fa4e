"""SageMaker: the model, endpoint config and async endpoint behind one sd-cloud endpoint; async invocation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api_schema import container_env, s3_layout
from lambdas.data.aws import client, error_code, error_message
from lambdas.data.storage import s3_uri
from lambdas.errors import Conflict, InvalidInput
from lambdas.settings import settings

VARIANT = "AllTraffic"
MAX_NAME_LENGTH = 63


def sagemaker_name(name: str) -> str:
    """The SageMaker endpoint behind API endpoint `name`: `{resource_prefix}-{name}`, the stack's IAM scope.

    It is also the endpoints table key, so that SageMaker's state-change events (which carry it) find the record.
    """
    return f"{settings().resource_prefix}-{name}"


def api_name(endpoint: str) -> str:
    """The API name of a SageMaker endpoint of this stack (the inverse of `sagemaker_name`)."""
    return endpoint.removeprefix(f"{settings().resource_prefix}-")


def part_name(endpoint: str, suffix: str) -> str:
    """A name for the endpoint's SageMaker model or config, unique per creation and within SageMaker's limit."""
    return f"{endpoint[: MAX_NAME_LENGTH - len(suffix) - 1]}-{suffix}"


def sagemaker() -> Any:
    return client("sagemaker")


@dataclass(frozen=True)
class Invocation:
    """What InvokeEndpointAsync answered: where SageMaker will write the response or the error (s3:// URIs)."""

    output_location: str | None
    failure_location: str | None


def _gone(exc: Exception) -> bool:
    message = error_message(exc).lower()
    return error_code(exc) in ("ValidationException", "ResourceNotFound") and (
        "not found" in message or "could not find" in message
    )


def _refusal(exc: Exception) -> Conflict | InvalidInput:
    """SageMaker's refusal to create an endpoint as the API's error on `instance_type`."""
    if error_code(exc) == "ResourceLimitExceeded":
        return Conflict(f"SageMaker quota reached: {error_message(exc)}", field="instance_type")
    return InvalidInput(f"SageMaker refused the endpoint: {error_message(exc)}", field="instance_type")


def create_endpoint(name: str, model_name: str, config_name: str, instance_type: str, instance_count: int) -> None:
    """CreateModel + CreateEndpointConfig (async) + CreateEndpoint; on failure removes what it made and raises
    Conflict (a quota) or InvalidInput for SageMaker's refusal, any other error as it is."""
    s = settings()
    sm = sagemaker()
    made: list[tuple[str, str]] = []
    try:
        sm.create_model(
            ModelName=model_name,
            ExecutionRoleArn=s.sagemaker_role_arn,
            PrimaryContainer={
                "Image": s.inference_image_uri,
                "Mode": "SingleModel",
                # instances of one GPU kind share their compiled artifacts (inference_image/fast/mirror.py)
                "Environment": {container_env.COMPILED_S3_URI: s3_uri(s3_layout.COMPILED)},
            },
        )
        made.append(("model", model_name))
        sm.create_endpoint_config(
            EndpointConfigName=config_name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": model_name,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": instance_count,
                }
            ],
            AsyncInferenceConfig={
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 1},
                "OutputConfig": {
                    "S3OutputPath": s3_uri(s3_layout.ASYNC_SUCCESS),
                    "S3FailurePath": s3_uri(s3_layout.ASYNC_FAILURE),
                    "NotificationConfig": {"SuccessTopic": s.success_topic_arn, "ErrorTopic": s.error_topic_arn},
                },
            },
        )
        made.append(("config", config_name))
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config_name)
    except Exception as exc:
        for kind, made_name in reversed(made):
            _delete(kind, made_name)
        if error_code(exc) is None:
            raise
        raise _refusal(exc) from exc


def _delete(kind: str, name: str | None) -> None:
    if name is None:
        return
    sm = sagemaker()
    call = {
        "endpoint": lambda: sm.delete_endpoint(EndpointName=name),
        "config": lambda: sm.delete_endpoint_config(EndpointConfigName=name),
        "model": lambda: sm.delete_model(ModelName=name),
    }[kind]
    try:
        call()
    except Exception as exc:
        if not _gone(exc):
            raise


def delete_endpoint(name: str, model_name: str | None, config_name: str | None) -> None:
    """DeleteEndpoint, DeleteEndpointConfig, DeleteModel; parts already gone (or never named) are skipped; Conflict when
    SageMaker refuses (the endpoint is busy, e.g. still being created)."""
    try:
        _delete("endpoint", name)
        _delete("config", config_name)
        _delete("model", model_name)
    except Exception as exc:
        if error_code(exc) is None:
            raise
        raise Conflict(f"SageMaker cannot delete '{api_name(name)}' now: {error_message(exc)}", field="name") from exc


def endpoint_exists(name: str) -> bool:
    try:
        sagemaker().describe_endpoint(EndpointName=name)
    except Exception as exc:
        if _gone(exc):
            return False
        raise
    return True


def invoke_async(endpoint_name: str, input_key: str, inference_id: str) -> Invocation:
    """InvokeEndpointAsync; Conflict with SageMaker's reason when the endpoint does not take the job."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = client("sagemaker-runtime").invoke_endpoint_async(
            EndpointName=endpoint_name,
            InputLocation=s3_uri(input_key),
            InferenceId=inference_id,
            ContentType="application/json",
            InvocationTimeoutSeconds=settings().job_timeout_seconds,
            RequestTTLSeconds=settings().request_ttl_seconds,
        )
    except (ClientError, BotoCoreError) as exc:
        reason = f"the endpoint did not accept the job: {error_message(exc)}"
        raise Conflict(reason, field="endpoint_name") from exc
    return Invocation(response.get("OutputLocation"), response.get("FailureLocation"))
