"""The seed's journey in a real browser: Debian chromium driven by Playwright against `sdcloud ui`."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from tests.e2e.panel.conftest import ARTIFACTS, Served, Stack

TIMEOUT_MS = 30_000


def _png(color: tuple[int, int, int]) -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return {"name": "control.png", "mimeType": "image/png", "buffer": out.getvalue()}


def _choose(page: Any, elem_id: str, option: str) -> None:
    """Pick like a user who types to filter the list, then takes the only match."""
    field = page.locator(f"#{elem_id} input").first
    field.click()
    field.fill(option)
    _options(page).and_(page.locator(f'[aria-label="{option}"]')).first.wait_for()
    field.press("Enter")


def _options(page: Any) -> Any:
    """The open dropdown's options (gradio 3.41 and current gradio both mark them so)."""
    return page.locator("[data-testid=dropdown-option]")


def _dropdown_value(page: Any, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input").first.input_value()


def _status(page: Any) -> Any:
    return page.locator("#sdcloud_txt2img_status").first


def test_generate_on_cloud_journey(panel: Served, stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(panel.url)
    button = page.locator("#sdcloud_txt2img_generate")
    expect(button).to_have_text("Generate")
    jobs_before = stack.job_count()

    # Given no endpoint is chosen, When Generate is pressed, Then an error shows and nothing is submitted
    button.click()
    expect(_status(page)).to_contain_text("No endpoint selected")
    assert stack.job_count() == jobs_before

    # Given an endpoint that is not InService, the button stays Generate and pressing it is refused
    page.locator("#sdcloud_txt2img_endpoint_refresh").click()
    _choose(page, "sdcloud_txt2img_endpoint", "ep-creating (Creating)")
    expect(button).to_have_text("Generate")
    button.click()
    expect(_status(page)).to_contain_text("not InService")
    assert stack.job_count() == jobs_before

    # When the InService endpoint is picked, the button reads Generate on Cloud
    _choose(page, "sdcloud_txt2img_endpoint", "ep-ready (InService)")
    expect(button).to_have_text("Generate on Cloud")

    # The native parameters and cloud models
    page.locator("#sdcloud_txt2img_prompt textarea").fill("a cute dog on the beach")
    page.locator("#sdcloud_txt2img_negative_prompt textarea").fill("blurry")
    page.locator("#sdcloud_txt2img_models_refresh").click()
    expect(_status(page)).to_contain_text("2 ControlNet model(s)")
    _choose(page, "sdcloud_txt2img_checkpoint", "tiny-sd")
    _choose(page, "sdcloud_txt2img_vae", "tiny-vae")
    _choose(page, "sdcloud_txt2img_loras", "tiny-lora")
    page.keyboard.press("Escape")
    page.locator("#sdcloud_txt2img_seed input").fill("42")

    # Two ControlNet units with uploaded images: canny and openpose
    page.locator("#sdcloud_txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
    for index, (module, model, color) in enumerate(
        [("canny", "tiny-canny", (255, 0, 0)), ("openpose", "tiny-openpose", (0, 0, 255))]
    ):
        unit = f"sdcloud_txt2img_cn{index}"
        page.locator(f"#{unit}_enabled input[type=checkbox]").check()
        _choose(page, f"{unit}_module", module)
        _choose(page, f"{unit}_model", model)
        page.locator(f"#{unit}_image input[type=file]").set_input_files(_png(color))
        expect(page.locator(f"#{unit}_image img").first).to_be_visible()

    # When Generate on Cloud is pressed, the new job is on top of the job list at once
    button.click()
    expect(_status(page)).to_contain_text("Submitted")
    new_label = _dropdown_value(page, "sdcloud_txt2img_job")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d -> txt2img -> in progress -> [0-9a-f]+", new_label)
    new_id = new_label.rsplit(" -> ", 1)[1]
    assert stack.user.list_inferences(limit=1)["inferences"][0]["id"] == new_id
    sent = stack.user.get_inference(new_id)
    assert sent["status"] in ("in_progress", "succeeded")

    # Then its images and infotext appear in Output
    expect(page.locator("#sdcloud_txt2img_info_out textarea")).to_have_value(
        re.compile("Steps: 20"), timeout=60_000
    )
    info = page.locator("#sdcloud_txt2img_info_out textarea").input_value()
    assert (
        "a cute dog on the beach <lora:tiny-lora:1>" in info
        and "Seed: 42" in info
        and "Model: tiny-sd" in info
    )
    expect(page.locator("#sdcloud_txt2img_gallery img").first).to_be_visible()
    payload = stack.api.payloads[new_id]
    units = payload["alwayson_scripts"]["controlnet"]["args"]
    assert [(u["module"], u["model"]) for u in units] == [
        ("canny", "tiny-canny"),
        ("openpose", "tiny-openpose"),
    ]
    assert all(u["image"] for u in units)
    assert payload["override_settings"] == {"sd_model_checkpoint": "tiny-sd", "sd_vae": "tiny-vae"}

    # The job list, refreshed, is newest first with succeed / fail / in progress words
    page.locator("#sdcloud_txt2img_job_refresh").click()
    page.locator("#sdcloud_txt2img_job input").first.click()
    options = [o.strip() for o in _options(page).all_inner_texts()]
    assert options[0].endswith(f"succeed -> {new_id}")
    older = next(o for o in options if o.endswith(f"-> txt2img -> succeed -> {stack.older_job_id}"))
    page.keyboard.press("Escape")

    # Picking an older job shows its output
    _choose(page, "sdcloud_txt2img_job", older)
    expect(page.locator("#sdcloud_txt2img_prompt_out textarea")).to_have_value(re.compile("lighthouse"))

    # Save gives the images as downloads
    page.locator("#sdcloud_txt2img_save").click()
    expect(_status(page)).to_contain_text("Saved 1 image(s)")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"panel-{panel.flavor}.png"), full_page=True)
    context.close()
