"""What the panel of one tab remembers per browser session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Session:
    shown_job: str | None = None  # the label of the job shown in Output
    watcher: int = 0  # the generation of the latest job watcher: an older one stops
    listed: list[str] | None = None  # the job labels last listed


class Sessions:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def of(self, request: Any) -> Session:
        """The session of a gradio request (one without a session hash: a session of its own, shared)."""
        return self._sessions.setdefault(getattr(request, "session_hash", None) or "", Session())
