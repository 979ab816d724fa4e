"""The WebUI extension glue against a stand-in of the WebUI modules it touches (webui_standin/README.md)."""

from __future__ import annotations

import importlib.util
import json
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from tests.unit.client.fake_api import FakeApi

ROOT = Path(__file__).resolve().parents[3]
STANDIN = Path(__file__).parent / "webui_standin"
EXTENSION = ROOT / "webui_extension"


@pytest.fixture
def webui(
    tmp_path: Path, api: FakeApi, user_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """A fresh stand-in WebUI with the extension's script loaded the way the WebUI loads it (by path)."""
    monkeypatch.syspath_prepend(str(STANDIN))
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.") or m == "launch"]:
        monkeypatch.delitem(sys.modules, name)
    import modules.scripts

    (tmp_path / "sdcloud.json").write_text(
        json.dumps({"api_url": api.url, "api_key": user_key, "controlnet_units": 5})
    )
    modules.scripts.current_basedir = str(tmp_path)
    spec = importlib.util.spec_from_file_location("sdcloud_webui", EXTENSION / "scripts" / "sdcloud_webui.py")
    assert spec and spec.loader
    script_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script_module)
    yield script_module


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
    p.script_args = _args(
        "ep-ready (InService)", [(True, "canny", "tiny-canny", 0.8, control, 0.0, 0.9, "Balanced")]
    )

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


def test_install_adds_only_the_sdcloud_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.delitem(sys.modules, "launch", raising=False)
    monkeypatch.delenv("SDCLOUD_PIP_SOURCE", raising=False)
    import launch

    runpy.run_path(str(EXTENSION / "install.py"))

    assert launch.pip_commands == [f'install --no-deps "{ROOT}"']
