"""Stand-in of modules/script_callbacks.py: registration of extra UI tabs."""

from collections.abc import Callable
from typing import Any

ui_tabs_callbacks: list[Callable[[], list[tuple[Any, str, str]]]] = []


def on_ui_tabs(callback: Callable[[], list[tuple[Any, str, str]]]) -> None:
    """The callback returns [(gradio Blocks, tab title, elem id)]."""
    ui_tabs_callbacks.append(callback)
