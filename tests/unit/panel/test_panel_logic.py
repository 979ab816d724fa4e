"""The panel's logic without a page: labels, payload, settings, and the service over a real HTTP API."""

from __future__ import annotations

import base64
import io
import json
import stat
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from sdcloud_panel.labels import endpoint_label, endpoint_name, job_id, job_label
from sdcloud_panel.payload import PanelError, build_payload
from sdcloud_panel.service import GENERATE, GENERATE_ON_CLOUD, PanelService
from sdcloud_panel.settings import PanelSettings, SettingsStore
from sdcloud_panel.wiring import followed
from tests.unit.client.fake_api import ADMIN_KEY, FakeApi

NATIVE = {
    "prompt": "a dog",
    "negative_prompt": "",
    "sampler_name": "Euler a",
    "steps": 20,
    "cfg_scale": 7,
    "width": 512,
    "height": 512,
    "seed": -1,
    "batch_size": 1,
    "n_iter": 1,
}


def _unit(**changes: object) -> dict[str, object]:
    unit = {
        "enabled": True,
        "module": "openpose",
        "model": "tiny-pose",
        "weight": 1.0,
        "image": Image.new("RGB", (8, 8)),
        "guidance_start": 0.0,
        "guidance_end": 1.0,
        "control_mode": "Balanced",
    }
    return {**unit, **changes}


def test_job_label_reads_time_type_status_id_and_back() -> None:
    job = {
        "id": "abc123",
        "task": "txt2img",
        "status": "in_progress",
        "created_at": "2026-11-25T17:56:00.123Z",
    }

    label = job_label(job)

    assert label == "2026-11-25 17:56:00 -> txt2img -> in progress -> abc123"
    assert job_id(label) == "abc123"
    assert [job_label({**job, "status": s}).split(" -> ")[2] for s in ("succeeded", "failed", "created")] == [
        "succeed",
        "fail",
        "in progress",
    ]


def test_the_followed_job_list_moves_the_shown_label_on_and_leaves_a_pick_alone() -> None:
    job = {"id": "abc123", "task": "txt2img", "status": "in_progress", "created_at": "2026-11-25T17:56:00Z"}
    other = job_label({**job, "id": "def456", "status": "succeeded"})
    running, done = job_label(job), job_label({**job, "status": "succeeded"})

    assert followed([done, other], running) == gr.update(choices=[done, other], value=done)
    # the list read while `other` was shown comes back after `running` was picked: it must not undo that pick
    assert followed([running, other], other) == gr.update(choices=[running, other])
    assert followed([running, other], None) == gr.update(choices=[running, other])


def test_endpoint_label_keeps_the_name_recoverable() -> None:
    label = endpoint_label({"name": "my-ep", "status": "InService"})
    assert (label, endpoint_name(label)) == ("my-ep (InService)", "my-ep")
    assert PanelService.button_label(label) == GENERATE_ON_CLOUD
    assert PanelService.button_label("my-ep (Creating)") == GENERATE
    assert PanelService.button_label(None) == GENERATE


def test_payload_carries_models_loras_and_enabled_units_only() -> None:
    values = {
        **NATIVE,
        "prompt": "a dog <lora:keep:0.5>",
        "checkpoint": "sd",
        "vae": "Automatic",
        "loras": ["keep", "extra"],
    }

    payload = build_payload("txt2img", values, [_unit(), _unit(enabled=False, image=None)])

    assert payload["prompt"] == "a dog <lora:keep:0.5> <lora:extra:1>"
    assert payload["override_settings"] == {"sd_model_checkpoint": "sd"}
    (unit,) = payload["alwayson_scripts"]["controlnet"]["args"]
    assert unit["module"] == "openpose" and unit["model"] == "tiny-pose"
    assert Image.open(io.BytesIO(base64.b64decode(unit["image"]))).size == (8, 8)


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (_unit(image=None), "ControlNet Unit 0: upload an image"),
        (_unit(model="None"), "ControlNet Unit 0: choose a Model"),
        (_unit(guidance_start=0.8, guidance_end=0.2), "must not exceed"),
    ],
)
def test_incomplete_units_are_refused_with_their_number(unit: dict[str, object], message: str) -> None:
    with pytest.raises(PanelError, match=message):
        build_payload("txt2img", NATIVE, [unit])


def test_img2img_needs_an_image_and_sends_it() -> None:
    with pytest.raises(PanelError, match="img2img needs an image"):
        build_payload("img2img", NATIVE, [])
    payload = build_payload(
        "img2img", {**NATIVE, "init_image": Image.new("RGB", (8, 8)), "denoising_strength": 0.3}, []
    )
    assert len(payload["init_images"]) == 1 and payload["denoising_strength"] == 0.3


def test_settings_saved_values_win_over_defaults_and_overrides_win_over_both(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "p" / "panel.json", PanelSettings("http://default", "dk"))
    assert store.load() == PanelSettings("http://default", "dk", 3)

    store.save(api_url="http://saved", controlnet_units=12)

    assert store.load() == PanelSettings("http://saved", "dk", 10)
    assert stat.S_IMODE((tmp_path / "p" / "panel.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "p" / "panel.json").read_text())["api_url"] == "http://saved"
    overridden = SettingsStore(tmp_path / "p" / "panel.json", PanelSettings(), api_url="http://arg")
    assert overridden.load().api_url == "http://arg"


def test_connection_test_tells_unreachable_bad_key_and_user(api: FakeApi, service: PanelService) -> None:
    assert service.test_connection("http://127.0.0.1:9", "k").startswith("Unreachable")
    assert service.test_connection(api.url, "wrong").startswith("Bad API key")
    assert service.test_connection(api.url, ADMIN_KEY) == "OK: connected as user admin (admin)"


def test_require_endpoint_refuses_none_and_not_inservice(service: PanelService) -> None:
    with pytest.raises(PanelError, match="No endpoint selected"):
        service.require_endpoint(None)
    with pytest.raises(PanelError, match="ep-creating is Creating, not InService"):
        service.require_endpoint("ep-creating (Creating)")
    assert service.require_endpoint("ep-ready (InService)") == "ep-ready"


def test_submit_lists_the_new_job_first_and_shows_its_output(api: FakeApi, service: PanelService) -> None:
    label = service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "seed": 9}, [])

    assert service.job_labels()[0] == label
    output = service.wait(label, timeout=10, poll_interval=0.05)
    assert output.finished and len(output.images) == 1
    assert output.prompt == "a dog" and "Seed: 9" in output.info
    (path,) = service.save_images(label)
    assert Image.open(path).info["parameters"] == output.info


def test_a_failed_job_says_why(service: PanelService) -> None:
    label = service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "prompt": "FAIL"}, [])

    with pytest.raises(PanelError, match="Job failed: InvalidJob"):
        service.wait(label, timeout=10, poll_interval=0.05)


def test_server_refusals_name_the_field(service: PanelService) -> None:
    with pytest.raises(PanelError, match=r"unknown model 'nope' \(field: override_settings.sd_model_checkpoint\)"):
        service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "checkpoint": "nope"}, [])


def test_upload_reports_the_model_and_progress(service: PanelService, tmp_path: Path) -> None:
    path = tmp_path / "mine.safetensors"
    path.write_bytes(b"x" * 999)
    seen: list[tuple[int, int]] = []

    message = service.upload_model(str(path), "", "lora", lambda sent, total: seen.append((sent, total)))

    assert message == "Uploaded mine (lora, 999 bytes): ready"
    assert seen[-1] == (999, 999)
    assert "mine" in service.model_names("lora")
    with pytest.raises(PanelError, match="No such file"):
        service.upload_model(str(tmp_path / "missing"), "x", "lora", lambda s, t: None)


def _wired(page: gr.Blocks, name: str) -> Any:
    """The first tab's function `name` as the page wired it."""
    fns = page.fns.values() if isinstance(page.fns, dict) else page.fns
    return next(f.fn for f in fns if getattr(f.fn, "__name__", "") == name)


def test_the_job_list_timer_shows_a_pick_the_page_dropped_and_follows_a_job_no_watcher_follows(
    api: FakeApi, service: PanelService
) -> None:
    from sdcloud_panel.sessions import Session
    from sdcloud_panel.standalone import build

    page = build(service)
    follow, show = _wired(page, "follow_jobs"), _wired(page, "show_job")
    first = service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "prompt": "a first dog"}, [])
    second = service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "prompt": "a second dog"}, [])
    first, second = (service.wait(label, timeout=10, poll_interval=0.05) for label in (first, second))
    first, second = (next(label for label in service.job_labels() if job_id(label) == output.job["id"])
                     for output in (first, second))
    session = Session()
    show(first, session)

    # Given the page shows the second job in its list while Output still shows the first (a dropped pick):
    # one tick leaves Output alone (it may have read the list just before the pick's own answer)
    _, *outputs = follow(second, session)
    assert outputs == [gr.update()] * 5 and session.shown_job == first
    # a stale read between two that agree with Output changes nothing either
    follow(first, session)
    _, *outputs = follow(second, session)
    assert outputs == [gr.update()] * 5
    # the second tick in a row shows the pick
    _, *outputs = follow(second, session)
    assert outputs[2] == "a second dog" and session.shown_job == second
    assert list(follow(second, session)[1:]) == [gr.update()] * 5

    # Given a running job shown with no watcher (its pick was dropped, or its watcher ended), the ticks follow it
    api.finish_after = 3.0
    running = service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "prompt": "a slow dog"}, [])
    show(running, session)
    bars = set()
    deadline = time.monotonic() + 10
    while session.shown_state is not None and session.shown_state[1] != "succeeded":
        assert time.monotonic() < deadline, session.shown_state
        _, *outputs = follow(running, session)
        if outputs[1] != gr.update():
            bars.add(outputs[1])
        time.sleep(0.2)
    assert len(bars) >= 2 and outputs[2] == "a slow dog"  # the bar moved, then the images came


def test_a_watcher_ends_on_no_change_and_never_sends_a_job_picked_away_from(
    api: FakeApi, service: PanelService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gradio 3.41 ends a generator by sending its last output again, or None for every output when it sent
    none (Output went blank right after a finished job was picked): a watcher's last word is no change.
    A job picked while the watcher or show_job reads another is the one they leave shown."""
    from sdcloud_panel.sessions import Session
    from sdcloud_panel.standalone import build

    page = build(service)
    show, watch = _wired(page, "show_job"), _wired(page, "watch")
    unchanged = (gr.update(),) * 5
    done = [service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "prompt": f"dog {n}"}, []) for n in (1, 2)]
    for label in done:
        service.wait(label, timeout=10, poll_interval=0.05)
    done = [next(label for label in service.job_labels() if job_id(label) == job_id(old)) for old in done]
    session = Session()

    # A finished job shown: its watcher sends nothing new, and ends on no change
    assert show(done[0], session)[2] == "dog 1"
    assert list(watch(session)) == [unchanged]

    # A running job followed to its end: its bar, then its images, then no change
    api.finish_after = 1.5
    running = service.submit("txt2img", "ep-ready (InService)", {**NATIVE, "prompt": "a slow dog"}, [])
    show(running, session)
    sent = list(watch(session))
    assert sent[-1] == unchanged and any(s[2] == "a slow dog" for s in sent[:-1]), sent

    # Picked away while show_job reads: its answer changes nothing, the pick's own answer shows the pick
    read = service.job_output

    def picked_during_read(label: str | None) -> Any:
        output = read(label)
        if job_id(label) == job_id(done[0]):
            session.shown_job = done[1]
        return output

    monkeypatch.setattr(service, "job_output", picked_during_read)
    assert show(done[0], session) == unchanged and session.shown_job == done[1]

    # Picked away while the watcher reads: it never sends the job it read, it follows the pick
    session.shown_job, session.shown_state = done[0], None
    sent = list(watch(session))
    assert [s[2] for s in sent if s != unchanged] == ["dog 2"] and sent[-1] == unchanged, sent
