"""SageMaker async inference notifications (the SNS message, raw-delivered as the SQS body) -> job transitions.

Success: {"eventName": "InferenceResult", "invocationStatus": "Completed", "inferenceId": ...,
          "requestParameters": {"endpointName", "inputLocation"}, "responseParameters": {"contentType",
          "outputLocation"}, "awsRegion", "eventTime", "receivedTime", "eventVersion", "eventSource": "aws:sagemaker"}
Failure: the same with "invocationStatus": "Failed", "failureReason" and "responseParameters.failureLocation"
         (the error body the container answered with).
`inferenceId` is the job id: the control plane invokes the endpoint with `InferenceId = job id`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from api_schema.validation_errors import validation_message
from lambdas.data.results_store import S3Location
from lambdas.logic.results import Outcome, settle_failure, settle_success

INFERENCE_RESULT = "InferenceResult"


def _s3_location(uri: str | None) -> str | None:
    if uri is not None:
        S3Location.parse(uri)  # raises ValueError, which pydantic reports as a validation error
    return uri


S3Uri = Annotated[str | None, AfterValidator(_s3_location)]


class RequestParameters(BaseModel):
    endpointName: str | None = None
    inputLocation: str | None = None


class ResponseParameters(BaseModel):
    contentType: str | None = None
    outputLocation: S3Uri = None
    failureLocation: S3Uri = None


class InferenceNotification(BaseModel):
    eventName: Literal["InferenceResult"]
    invocationStatus: Literal["Completed", "Failed"]
    inferenceId: str = Field(min_length=1, max_length=256)
    failureReason: str | None = None
    requestParameters: RequestParameters = Field(default_factory=RequestParameters)
    responseParameters: ResponseParameters = Field(default_factory=ResponseParameters)

    @model_validator(mode="after")
    def _success_names_its_output(self) -> InferenceNotification:
        if self.invocationStatus == "Completed" and not self.responseParameters.outputLocation:
            raise ValueError("responseParameters.outputLocation is required when invocationStatus is Completed")
        return self

    def apply(self) -> Outcome:
        response = self.responseParameters
        if self.invocationStatus == "Completed":
            return settle_success(self.inferenceId, S3Location.parse(str(response.outputLocation)))
        failure = S3Location.parse(response.failureLocation) if response.failureLocation else None
        return settle_failure(self.inferenceId, failure, self.failureReason)


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    job_id: str | None = None
    detail: str = ""


def handle_notification(body: str) -> Handled:
    """Apply one notification. Bad input is reported as MALFORMED, never raised; transient AWS errors raise."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        return Handled(Outcome.MALFORMED, detail=f"body is not JSON: {exc}")
    if not isinstance(message, dict):
        return Handled(Outcome.MALFORMED, detail="body is not a JSON object")
    event_name = message.get("eventName")
    if event_name is None:
        return Handled(Outcome.MALFORMED, detail="eventName is missing")
    if event_name != INFERENCE_RESULT:
        return Handled(Outcome.IGNORED, detail=f"not an inference result: eventName={event_name!r}")
    try:
        note = InferenceNotification.model_validate(message)
    except ValidationError as exc:
        job_id = message.get("inferenceId")
        return Handled(Outcome.MALFORMED, job_id if isinstance(job_id, str) else None, validation_message(exc))
    return Handled(note.apply(), note.inferenceId)
