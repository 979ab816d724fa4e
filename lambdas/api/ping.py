from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from api_schema.resources import Ping
from lambdas.settings import settings

router = Router()


@router.get("/ping", summary="Health check (no key needed)", tags=["ping"], security=[])
def ping() -> Ping:
    return Ping(status="ok", version=settings().version)
