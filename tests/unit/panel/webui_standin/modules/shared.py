"""Stand-in of modules/shared.py: the settings object (`opts.data` holds every setting by key)."""

from typing import Any


class Options:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}


opts = Options()
