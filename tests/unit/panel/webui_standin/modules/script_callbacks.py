"""Stand-in of modules/script_callbacks.py: registration of extra UI tabs and of app-started callbacks."""

from collections.abc import Callable
from typing import Any

ui_tabs_callbacks: list[Callable[[], list[tuple[Any, str, str]]]] = []


def on_ui_tabs(callback: Callable[[], list[tuple[Any, str, str]]]) -> None:
    """The callback returns [(gradio Blocks, tab title, elem id)]."""
    ui_tabs_callbacks.append(callback)

app_started_callbacks: list[Callable[[Any, Any], None]] = []


def on_app_started(callback: Callable[[Any, Any], None]) -> None:
    """The callback gets (gradio Blocks, FastAPI app) once the server is up, after each (re)launch."""
    app_started_callbacks.append(callback)
