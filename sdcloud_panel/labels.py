"""How endpoints and jobs read in the panel's dropdowns, and back."""

from __future__ import annotations

from typing import Any

STATUS_WORDS = {
    "created": "in progress",
    "in_progress": "in progress",
    "succeeded": "succeed",
    "failed": "fail",
    "cancelled": "cancelled",
}
SEPARATOR = " -> "


def endpoint_label(endpoint: dict[str, Any]) -> str:
    return f"{endpoint['name']} ({endpoint['status']})"


def endpoint_name(label: str | None) -> str | None:
    return label.rsplit(" (", 1)[0] if label else None


def endpoint_status(label: str | None) -> str | None:
    return label.rsplit(" (", 1)[1].rstrip(")") if label and " (" in label else None


def job_label(job: dict[str, Any]) -> str:
    """`time -> type -> status -> id`, e.g. `2026-11-25 17:56:00 -> txt2img -> succeed -> 3f2a...`."""
    created = str(job.get("created_at") or "")[:19].replace("T", " ")
    status = STATUS_WORDS.get(job["status"], job["status"])
    return SEPARATOR.join((created, job["task"], status, job["id"]))


def job_id(label: str | None) -> str | None:
    return label.rsplit(SEPARATOR, 1)[-1] if label else None
