"""The extension inside the real AUTOMATIC1111 WebUI v1.10.1, driven in Debian chromium, in two setups:
without and with sd-webui-controlnet v1.1.455 (conftest.py). The tests of one setup run in file order
against one WebUI and build on each other (settings saved, then the seed's flow, then Reload UI, ...)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

from PIL import Image

from tests.e2e.panel.conftest import ARTIFACTS, Stack
from tests.e2e.panel.test_browser_panel import _choose, _open_until, _options, _shapes, _stick_figure
from tests.e2e.webui.conftest import DIST, WebUI, freeze, pip

TIMEOUT_MS = 30_000
JOB_TIMEOUT_MS = 180_000
RELOAD_TIMEOUT_MS = 300_000


def _open(browser: Any, webui: WebUI) -> Any:
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(webui.url)
    page.locator("#txt2img_generate").wait_for(timeout=120_000)
    return page


def _tab(page: Any, title: str) -> None:
    page.locator("#tabs > .tab-nav > button", has_text=title).first.click()


def _shot(page: Any, webui: WebUI, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"webui-{webui.setup}-{name}.png"), full_page=True)


def _text_field(page: Any, elem_id: str) -> Any:
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def _number(page: Any, elem_id: str, value: str) -> None:
    field = page.locator(f"#{elem_id} input[type=number]").first
    field.fill(value)
    field.blur()


def _pick_exactly(page: Any, elem_id: str, option: str) -> None:
    """Click the option named `option` (Enter would take the first match: openpose_full before openpose)."""
    exact = _options(page).and_(page.locator(f'[aria-label="{option}"]'))
    _open_until(page, elem_id, exact, option)
    exact.first.click()


def _click_and_wait_for_the_event(page: Any, selector: str) -> None:
    """Click, then wait until the queued event the click started has ended (gradio 3.41 runs it over a websocket
    of its own that closes then). ControlNet's model refresh answers with the model the unit had at the click: a
    pick made before that answer came back was reset to "None" (seen in make test on a loaded machine)."""
    with page.expect_websocket() as opened:
        page.locator(selector).click()
    socket = opened.value
    for _ in range(JOB_TIMEOUT_MS // 100):
        if socket.is_closed():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the event of {selector} did not end")


def _settings_file(webui: WebUI) -> Path:
    return webui.data / "user-config" / "sdcloud" / "webui.json"


def _pick_endpoint(page: Any, stack: Stack, task: str) -> None:
    from playwright.sync_api import expect

    page.locator(f"#sdcloud_{task}_endpoint_refresh").click()
    _choose(page, f"sdcloud_{task}_endpoint", f"{stack.endpoint} (InService)")
    expect(page.locator(f"#{task}_generate")).to_have_text("Generate on Cloud")


def _set_parameters(page: Any, stack: Stack, task: str, prompt: str, seed: str) -> None:
    """The WebUI's own parameters (small and few steps: the local stack runs the tiny model on the CPU) and
    the panel's cloud checkpoint."""
    page.locator(f"#{task}_prompt textarea").fill(prompt)
    for name, value in [("steps", "2"), ("width", "64"), ("height", "64")]:
        _number(page, f"{task}_{name}", value)
    page.locator(f"#{task}_seed input").first.fill(seed)
    page.locator(f"#sdcloud_{task}_models_refresh").click()
    _choose(page, f"sdcloud_{task}_checkpoint", stack.names["checkpoint"])


def _generate_on_cloud(page: Any, stack: Stack, task: str) -> dict[str, Any]:
    """Press Generate on Cloud; the new job's JSON once the WebUI shows its image and infotext."""
    from playwright.sync_api import expect

    before = {job["id"] for job in stack.user.list_inferences(limit=100)["inferences"]}
    page.locator(f"#{task}_generate").click()
    expect(page.locator(f"#html_info_{task}").first).to_contain_text("Steps: 2", timeout=JOB_TIMEOUT_MS)
    expect(page.locator(f"#{task}_gallery img").first).to_be_visible()
    jobs = [job for job in stack.user.list_inferences(limit=100)["inferences"] if job["id"] not in before]
    assert len(jobs) == 1, jobs
    job = stack.user.get_inference(jobs[0]["id"])
    assert job["status"] == "succeeded", job
    return job


CLOSE_BOUNDED = "running task(s), timeout graceful shutdown exceeded"  # uvicorn's line when the bound cancels
# A page that closed before its queued event started: gradio 3.41 never ends that event's websocket task
LEAVE_AN_EVENT_UNANSWERED = """() => new Promise((resolve) => {
    const index = window.gradio_config.dependencies.findIndex((dep) => dep.backend_fn && dep.queue !== false);
    const ws = new WebSocket(location.href.replace(/^http/, "ws").replace(/\\/?$/, "/") + "queue/join");
    ws.onmessage = (message) => {
        const msg = JSON.parse(message.data);
        if (msg.msg === "send_hash") ws.send(JSON.stringify({fn_index: index, session_hash: "closed-early"}));
        if (msg.msg === "send_data") { ws.close(); resolve(index); }
    };
})"""


def _reload_ui(page: Any, webui: WebUI) -> None:
    """Settings > Reload UI: the WebUI re-runs every script and rebuilds its page; wait for it to be back.
    First a tab leaves a queued event unanswered, as a tab closed at the wrong moment does: the server's
    close waits for that event's task for ever unless the extension bounds the wait (bound_reload_wait)."""
    assert page.evaluate(LEAVE_AN_EVENT_UNANSWERED) >= 0
    starts = webui.log_text().count("Startup time:")
    bounded = webui.log_text().count(CLOSE_BOUNDED)
    _tab(page, "Settings")
    page.locator("#settings_restart_gradio").click()
    page.wait_for_function("() => document.body.innerText.includes('Reloading')")
    try:
        page.locator("#txt2img_generate").wait_for(timeout=RELOAD_TIMEOUT_MS)
    except Exception as error:
        _shot(page, webui, "reload-ui-stuck")
        raise AssertionError(
            f"Reload UI did not come back; the page says: {page.inner_text('body')[:500]}\n"
            f"the WebUI's log: {webui.log_text()[-6000:]}"
        ) from error
    assert webui.log_text().count("Startup time:") == starts + 1
    assert webui.log_text().count(CLOSE_BOUNDED) == bounded + 1  # the leaked task was cancelled


# --- 1. install.py ---------------------------------------------------------------------------------------
def test_install_adds_only_the_client_and_panel(webui: WebUI) -> None:
    after = freeze()
    added = sorted(set(after) - set(webui.freeze_before))
    assert [re.split(r"[ =@]", line)[0] for line in added] == [DIST], added
    assert not set(webui.freeze_before) - set(after), "a WebUI package changed"
    assert pip("check").stdout == webui.check_before, "install.py added a dependency problem"
    files = pip("show", "-f", DIST).stdout.split("Files:", 1)[1].split()
    packages = {name.split("/")[0] for name in files if not name.startswith(("..", "sd_cloud_webui-"))}
    assert packages == {"sdcloud_client", "sdcloud_panel", "api_schema"}, packages
    assert {name for name in files if name.startswith("api_schema/") and name.endswith(".py")} <= {
        "api_schema/__init__.py",
        "api_schema/controlnet_modes.py",
        "api_schema/model_types.py",
        "api_schema/preprocessors.py",
        "api_schema/prompt_tags.py",
        "api_schema/samplers.py",
    }


# --- 2. settings -------------------------------------------------------------------------------------------
def test_settings_are_kept_outside_the_webui_and_shown_after_a_reload(webui: WebUI, stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    page = _open(browser, webui)
    _tab(page, "SD Cloud")
    result = page.locator("#sdcloud_connection_result").first
    _text_field(page, "sdcloud_api_url").fill(stack.api_url)
    _text_field(page, "sdcloud_api_key").fill(stack.api_key)
    page.locator("#sdcloud_test_connection").click()
    expect(result).to_contain_text("OK: connected")

    # The key is in the extension's own file only: mode 600, outside the extension's folder and the WebUI's
    settings = _settings_file(webui)
    assert json.loads(settings.read_text())["api_key"] == stack.api_key
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert not (Path(__file__).parents[3] / "webui_extension" / "sdcloud.json").exists()
    page.reload()
    page.locator("#txt2img_generate").wait_for()
    assert (webui.data / "ui-config.json").exists()  # the WebUI has recorded its components' values
    files = [path for path in webui.data.rglob("*") if path.is_file()]
    assert [path for path in files if stack.api_key in path.read_text(errors="replace")] == [settings]

    # After a page reload the form shows what is saved; saving with the key field empty keeps the key
    _tab(page, "SD Cloud")
    expect(_text_field(page, "sdcloud_api_url")).to_have_value(stack.api_url)
    expect(page.locator("#sdcloud_api_key_note").first).to_contain_text(f"ending in {stack.api_key[-4:]}")
    expect(_text_field(page, "sdcloud_api_key")).to_have_value("")
    page.locator("#sdcloud_test_connection").click()
    expect(result).to_contain_text("OK: connected")
    assert json.loads(settings.read_text())["api_key"] == stack.api_key
    _shot(page, webui, "settings")
    page.context.close()


# --- 3. the seed's flow ----------------------------------------------------------------------------------
def test_seed_flow_generates_on_the_cloud_and_saves_as_the_webui(webui: WebUI, stack: Stack, browser: Any) -> None:
    """Steps 1-4: the panel in txt2img, the endpoint turning Generate into Generate on Cloud, the images and
    infotext in the WebUI's own Output, the job list following by itself, Send to img2img, img2img."""
    from playwright.sync_api import expect

    page = _open(browser, webui)
    expect(page.locator("#sdcloud_txt2img_panel")).to_be_visible()
    expect(page.locator("#txt2img_generate")).to_have_text("Generate")
    # The panel's own ControlNet section only without sd-webui-controlnet (its accordion holds the units)
    expect(page.locator("#sdcloud_txt2img_controlnet")).to_have_count(0 if webui.controlnet else 1)
    _set_parameters(page, stack, "txt2img", "a cute dog on the beach", "42")
    _pick_endpoint(page, stack, "txt2img")
    job = _generate_on_cloud(page, stack, "txt2img")
    info = page.locator("#html_info_txt2img").first.inner_text()
    assert "a cute dog on the beach" in info and "Seed: 42" in info and "Size: 64x64" in info
    assert "No checkpoints found" not in page.locator("#html_log_txt2img").first.inner_text()

    # The job list shows the new job on top, succeeded, without a press of its refresh button
    listed = _options(page).filter(has_text=f"-> txt2img -> succeed -> {job['id']}")
    _open_until(page, "sdcloud_txt2img_job", listed).blur()
    page.locator("#sdcloud_txt2img_job input").first.click()
    expect(_options(page).first).to_contain_text(job["id"])
    page.locator("#sdcloud_txt2img_job input").first.blur()

    # Saved as the WebUI saves its own: outputs/txt2img-images/<date>/, the infotext in the PNG, params.txt
    saved = sorted((webui.data / "outputs" / "txt2img-images").glob("*/*.png"))
    assert saved, "no image under outputs/"
    with Image.open(saved[-1]) as png:
        assert png.info["parameters"] == job["info"]
    assert (webui.data / "params.txt").read_text() == job["info"]
    _shot(page, webui, "txt2img")
    if webui.controlnet:
        page.context.close()
        return  # img2img on the cloud is the plain setup's: it does not depend on that extension

    # Send to img2img (the WebUI's own button), then Generate on Cloud there
    page.locator("#txt2img_send_to_img2img").click()
    expect(page.locator("#img2img_prompt textarea")).to_have_value(re.compile("a cute dog"), timeout=TIMEOUT_MS)
    expect(page.locator("#img2img_image img").first).to_be_visible(timeout=TIMEOUT_MS)
    _number(page, "img2img_steps", "2")
    page.locator("#sdcloud_img2img_models_refresh").click()
    _choose(page, "sdcloud_img2img_checkpoint", stack.names["checkpoint"])
    _pick_endpoint(page, stack, "img2img")
    job = _generate_on_cloud(page, stack, "img2img")
    assert job["task"] == "img2img" and "Denoising strength: 0.75" in job["info"]
    assert sorted((webui.data / "outputs" / "img2img-images").glob("*/*.png"))
    _shot(page, webui, "img2img")
    page.context.close()


def test_job_list_moves_a_running_job_to_succeed_by_itself(webui: WebUI, stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    if webui.controlnet:
        return  # the plain setup's: the job list does not depend on that extension
    page = _open(browser, webui)
    slow = stack.user.create_inference(
        stack.endpoint,
        "txt2img",
        {"prompt": "a slow one", "steps": 20, "width": 256, "height": 256, "seed": 1,
         "override_settings": {"sd_model_checkpoint": stack.names["checkpoint"]}},
    )
    # On top of the list within seconds, in progress, without a press of refresh
    listed = _options(page).filter(has_text=f"-> in progress -> {slow['id']}")
    job_field = _open_until(page, "sdcloud_txt2img_job", listed)
    expect(_options(page).first).to_contain_text(slow["id"])
    label = listed.first.get_attribute("aria-label") or ""
    job_field.blur()
    _choose(page, "sdcloud_txt2img_job", label)
    # Picked, its label moves to succeed by itself
    expect(job_field).to_have_value(re.compile(f"-> succeed -> {slow['id']}$"), timeout=JOB_TIMEOUT_MS)
    page.context.close()


# --- 4. Reload UI, page reloads and restarts: Generate on Cloud stays on the cloud ------------------------
def test_after_reload_ui_generate_on_cloud_still_runs_on_the_cloud(webui: WebUI, stack: Stack, browser: Any) -> None:
    page = _open(browser, webui)
    if webui.controlnet:
        # The seed's ControlNet step 1: Settings > ControlNet > Multi ControlNet: Max models amount, then a
        # reload of the UI gives that many units
        _tab(page, "Settings")
        page.locator("#settings .tab-nav button, #settings_search + div button", has_text="ControlNet").first.click()
        _number(page, "setting_control_net_unit_count", "2")
        page.locator("#settings_submit").click()
        page.wait_for_timeout(1000)
    _reload_ui(page, webui)
    if webui.controlnet:
        page.locator("#txt2img_controlnet").get_by_text("ControlNet v1.1.455").first.click()
        from playwright.sync_api import expect

        expect(page.locator("#txt2img_controlnet button", has_text="ControlNet Unit 1")).to_be_visible()
        expect(page.locator("#txt2img_controlnet button", has_text="ControlNet Unit 2")).to_have_count(0)
    _set_parameters(page, stack, "txt2img", "after reload ui", "7")
    _pick_endpoint(page, stack, "txt2img")
    job = _generate_on_cloud(page, stack, "txt2img")
    assert job["parameters"]["prompt"] == "after reload ui"
    assert "sdcloud" not in webui.log_text().split("Restarting UI...")[-1]  # no error of the extension's
    _shot(page, webui, "after-reload-ui")
    page.context.close()


def test_after_a_restart_settings_show_and_generation_stays_on_the_cloud(
    webui: WebUI, stack: Stack, browser: Any
) -> None:
    from playwright.sync_api import expect

    if webui.controlnet:
        return  # one restart is enough: the plain setup's (a WebUI start with that extension takes a minute)
    webui.restart()
    page = _open(browser, webui)
    _tab(page, "SD Cloud")
    expect(_text_field(page, "sdcloud_api_url")).to_have_value(stack.api_url)
    _tab(page, "txt2img")
    _set_parameters(page, stack, "txt2img", "after a restart", "9")
    _pick_endpoint(page, stack, "txt2img")
    assert _generate_on_cloud(page, stack, "txt2img")["parameters"]["prompt"] == "after a restart"
    page.context.close()


# --- 5. ControlNet: the panel's own units, or sd-webui-controlnet's ----------------------------------------
def test_controlnet_units_go_to_the_cloud(webui: WebUI, stack: Stack, browser: Any) -> None:
    """The seed's ControlNet steps: with sd-webui-controlnet, unit 0 in its accordion (Enable, openpose, an
    image, the cloud's model from its Model dropdown) and unit 1 (canny); without it, the panel's own units."""
    from playwright.sync_api import expect

    page = _open(browser, webui)
    _set_parameters(page, stack, "txt2img", "a dancer", "11")
    _pick_endpoint(page, stack, "txt2img")
    model = stack.names["controlnet"]
    units = [("openpose", _stick_figure()), ("canny", _shapes())]
    if webui.controlnet:
        page.locator("#txt2img_controlnet").get_by_text("ControlNet v1.1.455").first.click()
        for index, (module, image) in enumerate(units):
            unit = f"txt2img_controlnet_ControlNet-{index}"
            page.locator("#txt2img_controlnet button", has_text=f"ControlNet Unit {index}").first.click()
            page.locator(f"#{unit}_input_image input[type=file]").set_input_files(image)
            expect(page.locator(f"#{unit}_input_image canvas, #{unit}_input_image img").first).to_be_visible()
            page.locator(f"#{unit}_controlnet_enable_checkbox input").check()
            _pick_exactly(page, f"{unit}_controlnet_preprocessor_dropdown", module)
            _click_and_wait_for_the_event(page, f"#{unit}_controlnet_refresh_models")
            _choose(page, f"{unit}_controlnet_model_dropdown", f"{model} [cloud]")
        page.locator("#txt2img_controlnet_ControlNet-1_controlnet_control_mode_radio label",
                     has_text="My prompt is more important").click()
    else:
        page.locator("#sdcloud_txt2img_controlnet").get_by_text("ControlNet", exact=True).first.click()
        for index, (module, image) in enumerate(units):
            unit = f"sdcloud_txt2img_cn{index}"
            page.locator(f"#{unit}_enabled input[type=checkbox]").check()
            _choose(page, f"{unit}_module", module)
            _choose(page, f"{unit}_model", model)
            page.locator(f"#{unit}_image input[type=file]").set_input_files(image)
            expect(page.locator(f"#{unit}_image img").first).to_be_visible()
    _shot(page, webui, "controlnet-units")
    job = _generate_on_cloud(page, stack, "txt2img")
    sent = job["parameters"]["alwayson_scripts"]["controlnet"]["args"]
    assert [(unit["module"], unit["model"]) for unit in sent] == [("openpose", model), ("canny", model)]
    assert all(unit["weight"] == 1.0 for unit in sent)
    if webui.controlnet:
        assert sent[1]["control_mode"] == "My prompt is more important"
        assert sent[0]["resize_mode"] == "Crop and Resize"
        assert sent[0]["processor_res"] == 512 and sent[1]["threshold_a"] == 100 and sent[1]["threshold_b"] == 200
    assert "ControlNet 0" in job["info"] and "ControlNet 1" in job["info"]
    _shot(page, webui, "controlnet")
    page.context.close()


# --- 6. the WebUI's own progress bar follows the cloud job; its Interrupt cancels it ---------------------
def test_the_webui_progress_bar_follows_the_cloud_job_and_interrupt_cancels_it(
    webui: WebUI, stack: Stack, browser: Any
) -> None:
    from playwright.sync_api import expect

    if webui.controlnet:
        return  # the plain setup's: progress and Interrupt do not depend on that extension
    page = _open(browser, webui)
    _set_parameters(page, stack, "txt2img", "a long one", "17")
    _number(page, "txt2img_steps", "150")
    _number(page, "txt2img_batch_count", "4")  # 600 steps on the CPU: long enough to watch and interrupt
    _pick_endpoint(page, stack, "txt2img")
    before = {job["id"] for job in stack.user.list_inferences(limit=100)["inferences"]}
    page.locator("#txt2img_generate").click()

    # The WebUI's bar (javascript/progressbar.js) shows the cloud's steps with the WebUI's percent and ETA
    bar = page.locator(".progressDiv .progress").first
    expect(bar).to_contain_text(re.compile(r"Cloud: step \d+/600.*\d+% ETA"), timeout=JOB_TIMEOUT_MS)
    percents: set[int] = set()
    for _ in range(120):
        found = re.search(r"(\d+)% ETA", bar.inner_text() if bar.count() else "")
        if found:
            percents.add(int(found.group(1)))
        if len(percents) >= 2:
            break
        page.wait_for_timeout(250)
    assert len(percents) >= 2, percents  # it moved
    _shot(page, webui, "progress")

    # Interrupt: the cloud job ends cancelled, the WebUI's generation ends without images
    page.locator("#txt2img_interrupt").click()
    (job,) = [job for job in stack.user.list_inferences(limit=100)["inferences"] if job["id"] not in before]
    for _ in range(120):
        if stack.user.get_inference(job["id"])["status"] != "in_progress":
            break
        page.wait_for_timeout(500)
    assert stack.user.get_inference(job["id"])["status"] == "cancelled"
    expect(page.locator(".progressDiv")).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.locator("#txt2img_generate")).to_be_visible()
    page.context.close()
