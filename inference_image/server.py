"""The SageMaker HTTP contract: GET /ping, POST /invocations (port 8080), around a Predictor."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api_schema.jobs import InferenceFailure, InferenceInput
from inference_image.errors import JobError, field_and_message
from inference_image.predictor import Predictor
from inference_image.settings import InferenceSettings

log = logging.getLogger("inference_image")


def failure(status: int, type_: str, message: str, job_id: str | None = None, field: str | None = None) -> JSONResponse:
    body = InferenceFailure(job_id=job_id, status_code=status, type=type_, message=message, field=field)
    return JSONResponse(body.model_dump(), status_code=status)


def create_app(
    settings: InferenceSettings | None = None,
    predictor: Predictor | None = None,
    setup_in_background: bool = True,
) -> FastAPI:
    """The app around `predictor` (or a new one for `settings`); setup runs at startup, in a thread by default
    so that /ping answers 'starting' meanwhile."""
    if predictor is None:
        predictor = Predictor(settings or InferenceSettings())

    def run_setup() -> None:
        try:
            predictor.setup()
        except Exception:
            log.exception("setup failed")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if predictor.state == "starting":
            if setup_in_background:
                threading.Thread(target=run_setup, name="predictor-setup", daemon=True).start()
            else:
                run_setup()
        yield
        predictor.stop()

    app = FastAPI(title="sd-cloud inference", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.predictor = predictor

    @app.get("/ping")
    def ping() -> JSONResponse:
        # busy still answers 200: SageMaker replaces an instance whose health check fails mid-job.
        healthy = predictor.state in ("ready", "busy")
        body: dict[str, Any] = {"status": predictor.state, "libraries": predictor.libraries}
        if predictor.error:
            body["error"] = predictor.error
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.post("/invocations")
    async def invocations(request: Request) -> JSONResponse:
        try:
            raw = await request.json()
        except ValueError:
            return failure(400, "InvalidJob", "the request body is not JSON")
        job_id = raw.get("job_id") if isinstance(raw, dict) else None
        try:
            job = InferenceInput.model_validate(raw)
        except ValidationError as exc:
            field, message = field_and_message(exc)
            return failure(400, "InvalidJob", message, job_id, field)
        from starlette.concurrency import run_in_threadpool

        try:
            manifest = await run_in_threadpool(predictor.predict, job)
        except JobError as exc:
            log.warning("job %s failed: %s", job.job_id, exc.message)
            return failure(exc.status_code, exc.type, exc.message, job.job_id, exc.field)
        except Exception as exc:
            log.exception("job %s: internal error", job.job_id)
            return failure(500, "InternalError", f"internal error: {type(exc).__name__}: {exc}", job.job_id)
        return JSONResponse(manifest.model_dump())

    return app


def serve(host: str = "0.0.0.0", port: int = 8080) -> None:
    """The container's entry point (`serve`, as SageMaker starts it): settings from the environment."""
    import uvicorn

    settings = InferenceSettings.from_env()
    process_environment(settings)
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(settings), host=host, port=port, workers=1)


def process_environment(settings: InferenceSettings) -> None:
    """What the libraries read from the environment once, set before they are imported (unless set)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Inductor's kernel cache beside the artifacts: importing torch._dynamo fixes it for the process
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(settings.artifact_dir / "inductor-cache"))


if __name__ == "__main__":
    serve()
