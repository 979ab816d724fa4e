"""The one settings model: every handler reads its configuration through `settings()`.

Nothing reads `os.environ` at import time. AWS endpoints are not settings: boto3 itself honours
`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, which is how the local stack points the very
same code at moto and at its SageMaker async emulator.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

from api_schema.preprocessors import ANNOTATOR_NAMES

# Environment variable names, shared with infrastructure/ and the local stack.
ENV = {
    "region": "AWS_REGION",
    "bucket": "SDCLOUD_BUCKET",
    "users_table": "SDCLOUD_USERS_TABLE",
    "models_table": "SDCLOUD_MODELS_TABLE",
    "endpoints_table": "SDCLOUD_ENDPOINTS_TABLE",
    "jobs_table": "SDCLOUD_JOBS_TABLE",
    "idempotency_table": "SDCLOUD_IDEMPOTENCY_TABLE",
    "success_topic_arn": "SDCLOUD_SUCCESS_TOPIC_ARN",
    "error_topic_arn": "SDCLOUD_ERROR_TOPIC_ARN",
    "sagemaker_role_arn": "SDCLOUD_SAGEMAKER_ROLE_ARN",
    "inference_image_uri": "SDCLOUD_INFERENCE_IMAGE_URI",
    "job_timeout_seconds": "SDCLOUD_JOB_TIMEOUT_SECONDS",
    "request_ttl_seconds": "SDCLOUD_REQUEST_TTL_SECONDS",
    "sweep_margin_seconds": "SDCLOUD_SWEEP_MARGIN_SECONDS",
    "presign_expiry_seconds": "SDCLOUD_PRESIGN_EXPIRY_SECONDS",
    "admin_secret_arn": "SDCLOUD_ADMIN_SECRET_ARN",
    "resource_prefix": "SDCLOUD_RESOURCE_PREFIX",
    "version": "SDCLOUD_VERSION",
    "baked_annotators": "SDCLOUD_BAKED_ANNOTATORS",
    "webhook_queue_url": "SDCLOUD_WEBHOOK_QUEUE_URL",
    "webhook_secrets_key_arn": "SDCLOUD_WEBHOOK_SECRETS_KEY_ARN",
    "webhook_allow_loopback": "SDCLOUD_WEBHOOK_ALLOW_LOOPBACK",
    "webhook_retry_seconds": "SDCLOUD_WEBHOOK_RETRY_SECONDS",
}


class Settings(BaseModel):
    region: str = "us-east-1"
    bucket: str
    users_table: str
    models_table: str
    endpoints_table: str
    jobs_table: str
    idempotency_table: str
    success_topic_arn: str
    error_topic_arn: str
    sagemaker_role_arn: str = ""
    inference_image_uri: str = ""
    job_timeout_seconds: int = Field(3600, ge=60, le=3600, description="SageMaker async InvocationTimeoutSeconds")
    request_ttl_seconds: int = Field(3600, ge=60, le=21600, description="SageMaker async RequestTTLSeconds")
    sweep_margin_seconds: int = Field(300, ge=0)
    presign_expiry_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)
    admin_secret_arn: str = ""
    # SageMaker models, endpoint configs and endpoints are named `{resource_prefix}-...`: the IAM scope.
    resource_prefix: str = Field("sdcloud", pattern=r"^[a-z][a-z0-9]{0,15}$")
    version: str = "0.1.0"
    # Annotator weights the inference image carries (built with BAKE_ANNOTATORS=1: all of them), comma-separated
    # names or `all`; a preprocessor that needs others finds them among the registered annotator models.
    baked_annotators: str = Field("", pattern=r"^[\w.+-]*(,[\w.+-]+)*$")
    # Completion webhooks: the queue the delivery function reads, the KMS key of the users' signing secrets
    # (empty: Secrets Manager's default key, as in the local stack), whether `http://127.0.0.1` URLs are allowed
    # (true only in the local stack), and the first retry's delay (doubled per attempt, up to 15 minutes).
    webhook_queue_url: str = ""
    webhook_secrets_key_arn: str = ""
    webhook_allow_loopback: bool = False
    webhook_retry_seconds: int = Field(30, ge=1, le=900)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {field: env[name] for field, name in ENV.items() if name in env}
        return cls.model_validate(values)

    @property
    def baked_annotator_names(self) -> frozenset[str]:
        if self.baked_annotators.strip() == "all":
            return frozenset(ANNOTATOR_NAMES)
        return frozenset(name for name in self.baked_annotators.split(",") if name)

    @property
    def invocation_window_seconds(self) -> int:
        """How long SageMaker may still answer an invocation: queued up to the TTL, then run up to the timeout."""
        return self.request_ttl_seconds + self.job_timeout_seconds

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env` return these settings (for infra and the local stack)."""
        return {ENV[field]: str(value) for field, value in self.model_dump().items() if value != ""}


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()
