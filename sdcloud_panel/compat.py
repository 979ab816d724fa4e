"""The few places where gradio 3.41.2 (the WebUI's pin) and current gradio differ."""

from __future__ import annotations

from typing import Any

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])


def event_options(then: bool = False) -> dict[str, Any]:
    """Let events run side by side: a job being watched must not hold up the next Generate on Cloud.
    (gradio 3 runs them side by side through the queue's concurrency_count; see enable_queue.)"""
    if GRADIO_MAJOR < 4:
        return {}
    return {"concurrency_limit": None} if then else {"concurrency_limit": None, "trigger_mode": "multiple"}


def enable_queue(blocks: gr.Blocks) -> None:
    if GRADIO_MAJOR >= 4:
        blocks.queue(default_concurrency_limit=None)
    else:
        blocks.queue(concurrency_count=16)


HIDDEN_CLASS = "sdcloud-hidden"  # display: none (the WebUI extension's style.css, the standalone page's css)


def blocks_css() -> dict[str, Any]:
    """The page's own css for gradio 3 (periodically's hidden button); later gradio needs none."""
    return {} if hasattr(gr, "Timer") else {"css": f".{HIDDEN_CLASS} {{ display: none !important; }}"}


def periodically(page: Any, seconds: float, fn: Any, outputs: list[Any], elem_id: str) -> None:
    """Run `fn(request)` every `seconds` while a page is open, quietly; it returns the outputs' updates.
    Later gradio has a Timer. In gradio 3.41 `every=` would call a function with the inputs of its first
    call and without the request, and a loop in a load event would hold up the WebUI's Reload UI (which
    waits for running events): there a timer in the page presses a hidden button (`elem_id`)."""
    if hasattr(gr, "Timer"):

        def tick(request: gr.Request) -> Any:
            return fn(request)

        gr.Timer(seconds).tick(tick, None, outputs, show_progress="hidden")
        return

    def press(request: gr.Request) -> Any:
        return fn(request)

    trigger = gr.Button(elem_id=elem_id, elem_classes=[HIDDEN_CLASS])
    trigger.click(press, None, outputs, show_progress="hidden")
    root = "(document.querySelector('gradio-app')?.shadowRoot || document)"
    page.load(
        None,
        None,
        None,
        _js=f"() => {{ setInterval(() => {root}.querySelector('#{elem_id}')?.click(), {int(seconds * 1000)}); }}",
    )
