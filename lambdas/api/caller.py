"""The caller the authorizer established, read from the proxy event's authorizer context."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from lambdas.errors import Unauthenticated
from lambdas.logic.caller import Caller


def current_caller(router: Router) -> Caller:
    context = router.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    name, role = context.get("user"), context.get("role")
    if not name or role not in ("admin", "user"):
        raise Unauthenticated("no valid API key (header x-api-key)", field="x-api-key")
    return Caller(name=name, role=role)
