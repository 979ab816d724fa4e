"""The WebUI extension glue against a stand-in of the WebUI modules it touches (webui_standin/README.md)."""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from tests.unit.client.fake_api import FakeApi

ROOT = Path(__file__).resolve().parents[3]
STANDIN = Path(__file__).parent / "webui_standin"
EXTENSION = ROOT / "webui_extension"


@pytest.fixture
def webui(tmp_path: Path, api: FakeApi, user_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh stand-in WebUI with the extension's script loaded the way the WebUI loads it (by path)."""
    monkeypatch.syspath_prepend(str(STANDIN))
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.") or m == "launch"]:
        monkeypatch.delitem(sys.modules, name)
    import modules.paths
    import modules.scripts

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = tmp_path / "config" / "sdcloud" / "webui.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"api_url": api.url, "api_key": user_key, "controlnet_units": 5}))
    modules.scripts.current_basedir = str(tmp_path / "extension")
    modules.paths.data_path = str(tmp_path)
    monkeypatch.chdir(tmp_path)  # the WebUI's output folders are relative to where it runs
    yield _load_script()


def _load_script() -> ModuleType:
    """The extension's script, run the way the WebUI runs it (by path): at start and at each Reload UI."""
    spec = importlib.util.spec_from_file_location("sdcloud_webui", EXTENSION / "scripts" / "sdcloud_webui.py")
    assert spec and spec.loader
    script_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script_module)
    return script_module


def _build(webui: ModuleType, is_img2img: bool) -> tuple[Any, Any, list[Any], Any]:
    from modules import scripts, shared

    shared.opts.data["control_net_unit_count"] = 2
    runner = scripts.ScriptRunner()
    script = webui.SdCloudScript()
    tab = "img2img" if is_img2img else "txt2img"
    with gr.Blocks() as blocks:
        button = gr.Button("Generate", elem_id=f"{tab}_generate")
        script.after_component(button, elem_id=f"{tab}_generate")
        controls = runner.setup_ui(script, is_img2img)
    return runner, script, controls, blocks


def _args(endpoint: str | None, units: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    blank = (False, "none", "None", 1.0, None, 0.0, 1.0, "Balanced")
    flat = [value for unit in units + [blank] * (2 - len(units)) for value in unit]
    return (endpoint, "tiny-sd", "tiny-vae", ["tiny-lora"], *flat)


def test_panel_is_an_always_visible_script_with_the_settings_unit_count(webui: ModuleType) -> None:
    from modules import generation_parameters_copypaste, script_callbacks, scripts

    _, script, controls, _ = _build(webui, is_img2img=False)

    assert script.show(False) is scripts.AlwaysVisible and script.title() == "Amazon SageMaker Inference"
    assert len(controls) == 1 + 3 + 2 * 8  # endpoint, checkpoint/VAE/LoRA, 2 ControlNet units of 8 fields
    assert controls[0].label == "Select Cloud SageMaker Endpoint"
    binding = generation_parameters_copypaste.registered_param_bindings[-1]
    assert binding.tabname == "img2img" and binding.source_image_component is not None
    tabs = [tab for callback in script_callbacks.ui_tabs_callbacks for tab in callback()]
    assert [title for _, title, _ in tabs] == ["SD Cloud"]


def test_generate_with_an_inservice_endpoint_runs_on_the_cloud(webui: ModuleType, api: FakeApi) -> None:
    from modules import processing

    runner, _, _, _ = _build(webui, is_img2img=False)
    control = Image.new("RGB", (32, 32), "red")
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dog", seed=5, batch_size=2, width=64, height=64)
    p.scripts = runner
    p.script_args = _args("ep-ready (InService)", [(True, "canny", "tiny-canny", 0.8, control, 0.0, 0.9, "Balanced")])

    processed = processing.process_images(p)

    assert not processing.local_calls
    assert len(processed.images) == 2 and processed.all_seeds == [5, 6]
    assert all(text.startswith("a dog <lora:tiny-lora:1>\n") for text in processed.infotexts)
    (job_id,) = api.payloads
    payload = api.payloads[job_id]
    assert payload["override_settings"] == {"sd_model_checkpoint": "tiny-sd", "sd_vae": "tiny-vae"}
    (unit,) = payload["alwayson_scripts"]["controlnet"]["args"]
    assert (unit["module"], unit["model"], unit["weight"], unit["guidance_end"]) == (
        "canny",
        "tiny-canny",
        0.8,
        0.9,
    )


def test_the_webui_progress_bar_follows_the_cloud_job_and_interrupt_cancels_it(
    webui: ModuleType, api: FakeApi
) -> None:
    from modules import processing, shared

    api.finish_after = 30
    runner, _, _, _ = _build(webui, is_img2img=False)
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dog", seed=5, steps=300, width=64, height=64)
    p.scripts = runner
    p.script_args = _args("ep-ready (InService)", [])
    shared.state.interrupted = False
    result: dict[str, Any] = {}
    generating = threading.Thread(target=lambda: result.update(processed=processing.process_images(p)))
    generating.start()

    # While it runs, the WebUI's state holds the job's steps (what /internal/progress turns into the bar and ETA)
    deadline = time.monotonic() + 10
    while shared.state.sampling_step < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shared.state.sampling_steps == 300 and shared.state.job_count == 1 and shared.state.sampling_step >= 3
    assert re.fullmatch(r"Cloud: step \d+/300, about \d+ s left", shared.state.textinfo)

    # When Interrupt is pressed, the cloud job is cancelled and the generation ends without images
    shared.state.interrupt()
    generating.join(timeout=10)
    assert result["processed"].images == [] and "Job cancelled" in result["processed"].info
    (job,) = api.jobs.values()
    assert job["status"] == "cancelled"


def test_img2img_sends_the_init_image(webui: ModuleType, api: FakeApi) -> None:
    from modules import processing

    runner, _, _, _ = _build(webui, is_img2img=True)
    p = processing.StableDiffusionProcessingImg2Img(
        prompt="a cat", init_images=[Image.new("RGB", (64, 64))], denoising_strength=0.4, width=64, height=64
    )
    p.scripts, p.script_args = runner, _args("ep-ready (InService)", [])

    processing.process_images(p)

    (job_id,) = api.payloads
    assert api.jobs[job_id]["task"] == "img2img"
    assert api.payloads[job_id]["init_images"] and api.payloads[job_id]["denoising_strength"] == 0.4


def test_without_an_endpoint_the_webui_generates_locally(webui: ModuleType, api: FakeApi) -> None:
    from modules import processing

    runner, _, _, _ = _build(webui, is_img2img=False)
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dog")
    p.scripts, p.script_args = runner, _args(None, [])

    assert processing.process_images(p).info == "generated locally"
    assert not api.jobs


def test_an_endpoint_not_inservice_is_an_error_and_submits_nothing(webui: ModuleType, api: FakeApi) -> None:
    from modules import processing

    from sdcloud_panel.payload import PanelError

    runner, _, _, _ = _build(webui, is_img2img=False)
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dog")
    p.scripts, p.script_args = runner, _args("ep-creating (Creating)", [])

    with pytest.raises(PanelError, match="ep-creating is Creating, not InService"):
        processing.process_images(p)
    assert not api.jobs and not processing.local_calls


def test_after_reload_ui_the_cloud_still_generates(webui: ModuleType, api: FakeApi) -> None:
    """Reload UI runs the script again: a new script class, while process_images stays wrapped once."""
    from modules import processing

    wrapped = processing.process_images
    reloaded = _load_script()
    assert reloaded.SdCloudScript is not webui.SdCloudScript and processing.process_images is wrapped
    runner, _, _, _ = _build(reloaded, is_img2img=False)
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dog", width=64, height=64)
    p.scripts, p.script_args = runner, _args("ep-ready (InService)", [])

    processing.process_images(p)

    assert not processing.local_calls and len(api.payloads) == 1


def test_cloud_images_are_saved_as_the_webui_saves_its_own(webui: ModuleType, api: FakeApi, tmp_path: Path) -> None:
    from modules import images, processing, shared

    runner, _, _, _ = _build(webui, is_img2img=False)
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dog", seed=5, batch_size=2, width=64, height=64)
    p.scripts, p.script_args = runner, _args("ep-ready (InService)", [])
    p.outpath_samples, p.outpath_grids = str(tmp_path / "samples"), str(tmp_path / "grids")
    images.saved.clear()

    processed = processing.process_images(p)

    samples = [s for s in images.saved if not s["grid"]]
    assert [(s["seed"], s["info"], s["p"]) for s in samples] == [
        (5, processed.infotexts[0], p),
        (6, processed.infotexts[1], p),
    ]
    assert all(Path(s["path"]).parent == tmp_path / "samples" for s in samples)
    assert [Path(s["path"]).parent for s in images.saved if s["grid"]] == [tmp_path / "grids"]
    assert (tmp_path / "params.txt").read_text() == processed.infotexts[0]

    # The WebUI's options that switch saving off are obeyed
    images.saved.clear()
    shared.opts.data.update(samples_save=False, grid_save=False)
    p.script_args = _args("ep-ready (InService)", [])
    processing.process_images(p)
    assert not images.saved


class _Mode:
    def __init__(self, value: str) -> None:
        self.value = value


def _extension_unit(**fields: Any) -> SimpleNamespace:
    """What sd-webui-controlnet's accordion hands over per unit: a ControlNetUnit (enums for the modes)."""
    unit = {"enabled": False, "module": "none", "model": "None", "weight": 1.0, "image": None,
            "resize_mode": _Mode("Crop and Resize"), "processor_res": 512, "threshold_a": 100.0,
            "threshold_b": 200.0, "guidance_start": 0.0, "guidance_end": 1.0, "pixel_perfect": False,
            "control_mode": _Mode("Balanced"), "low_vram": False}
    return SimpleNamespace(**{**unit, **fields})


@pytest.fixture
def controlnet_extension(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """sd-webui-controlnet loaded beside the extension: its script module with its `global_state`."""
    from modules import scripts

    def update_cn_models() -> None:
        global_state.cn_models.clear()
        global_state.cn_models.update({"None": None, "control_v11p_sd15_canny [d14c016b]": "/models/canny.pth"})

    global_state = SimpleNamespace(cn_models={}, update_cn_models=update_cn_models)
    module = SimpleNamespace(global_state=global_state)
    monkeypatch.setattr(scripts, "scripts_data", [SimpleNamespace(module=module)])
    return global_state


class _ControlNetScript:
    def title(self) -> str:
        return "ControlNet"


def _with_extension_units(runner: Any, p: Any, units: list[Any]) -> None:
    script = _ControlNetScript()
    script.args_from, script.args_to = len(p.script_args), len(p.script_args) + len(units)  # type: ignore[attr-defined]
    runner.alwayson_scripts.append(script)
    p.script_args = (*p.script_args, *units)


def test_beside_sd_webui_controlnet_its_units_go_to_the_cloud(
    webui: ModuleType, api: FakeApi, controlnet_extension: SimpleNamespace
) -> None:
    from modules import processing

    runner, _, controls, _ = _build(webui, is_img2img=False)
    assert len(controls) == 1 + 3  # no ControlNet units of the panel's own
    assert controlnet_extension.cn_models == {
        "None": None,
        "control_v11p_sd15_canny [d14c016b]": "/models/canny.pth",
        "tiny-canny [cloud]": None,
    }
    pose = np.zeros((32, 32, 3), dtype=np.uint8)
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a dancer", width=64, height=64)
    p.scripts, p.script_args = runner, (*_args("ep-ready (InService)", [])[:4],)
    _with_extension_units(runner, p, [
        _extension_unit(enabled=True, module="openpose", model="tiny-canny [cloud]", weight=0.7,
                        image={"image": pose, "mask": np.zeros((32, 32, 4), dtype=np.uint8)},
                        guidance_end=0.8, control_mode=_Mode("ControlNet is more important"), pixel_perfect=True),
        _extension_unit(),
    ])

    processing.process_images(p)

    (payload,) = api.payloads.values()
    (unit,) = payload["alwayson_scripts"]["controlnet"]["args"]
    assert {k: v for k, v in unit.items() if k != "image"} == {
        "enabled": True, "module": "openpose", "model": "tiny-canny", "weight": 0.7, "guidance_start": 0.0,
        "guidance_end": 0.8, "control_mode": "ControlNet is more important", "resize_mode": "Crop and Resize",
        "processor_res": 512, "threshold_a": 100.0, "threshold_b": 200.0, "pixel_perfect": True,
    }
    assert unit["image"]


def test_a_local_controlnet_model_is_matched_by_name_or_named_as_missing(
    webui: ModuleType, api: FakeApi, controlnet_extension: SimpleNamespace
) -> None:
    from modules import processing

    from sdcloud_panel.payload import PanelError

    runner, _, _, _ = _build(webui, is_img2img=False)
    image = Image.new("RGB", (32, 32))
    for model, outcome in [("TINY-canny [0123abcd]", "tiny-canny"), ("control_v11p_sd15_canny [d14c016b]", None)]:
        p = processing.StableDiffusionProcessingTxt2Img(prompt="a dancer", width=64, height=64)
        p.scripts, p.script_args = runner, (*_args("ep-ready (InService)", [])[:4],)
        _with_extension_units(runner, p, [_extension_unit(enabled=True, module="canny", model=model, image=image)])
        if outcome is None:
            with pytest.raises(PanelError, match=r"Unit 0: model control_v11p_sd15_canny is not on the cloud.*tiny"):
                processing.process_images(p)
        else:
            processing.process_images(p)
            (payload,) = api.payloads.values()
            assert payload["alwayson_scripts"]["controlnet"]["args"][0]["model"] == outcome
        runner.alwayson_scripts.pop()
    assert not processing.local_calls


def test_install_builds_a_wheel_of_the_client_and_panel_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delitem(sys.modules, "launch", raising=False)
    monkeypatch.delenv("SDCLOUD_PIP_SOURCE", raising=False)
    import launch

    install = runpy.run_path(str(EXTENSION / "install.py"))
    wheel = install["build_wheel"](ROOT, tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read(next(n for n in names if n.endswith("/RECORD"))).decode()
    packages = {name.split("/")[0] for name in names if not name.startswith("sd_cloud_webui-")}
    assert packages == {"sdcloud_client", "sdcloud_panel", "api_schema"}
    assert "api_schema/prompt_tags.py" in names and "api_schema/payload.py" not in names  # pydantic models stay out
    assert all(name in record for name in names)
    version = wheel.name.split("-")[1]
    assert version == install["wanted_version"](install["sources"](ROOT)) and version.startswith("0.1.0+")

    monkeypatch.setitem(install["main"].__globals__, "installed_version", lambda dist: None)  # a fresh WebUI
    install["main"]()

    (command,) = launch.pip_commands
    assert command.startswith('install --no-deps --force-reinstall "') and command.endswith(f'{wheel.name}"')


def test_reload_ui_waits_a_bounded_time_for_the_server_to_close(webui: ModuleType) -> None:
    import uvicorn
    from modules import script_callbacks

    from sdcloud_panel.webui import RELOAD_WAIT_SECONDS

    unbounded = SimpleNamespace(server=uvicorn.Server(uvicorn.Config(app=None)))
    chosen = SimpleNamespace(server=uvicorn.Server(uvicorn.Config(app=None, timeout_graceful_shutdown=3)))
    for demo in (unbounded, chosen, SimpleNamespace()):
        for callback in script_callbacks.app_started_callbacks:
            callback(demo, None)

    assert unbounded.server.config.timeout_graceful_shutdown == RELOAD_WAIT_SECONDS  # was None
    assert chosen.server.config.timeout_graceful_shutdown == 3
