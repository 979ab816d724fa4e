"""The infotext formatter against the WebUI's format."""

from __future__ import annotations

from inference_image.infotext import controlnet_unit_text, format_infotext, number, quote


def test_webui_example():
    params = {
        "Steps": 20,
        "Sampler": "DPM++ 2M",
        "Schedule type": "Karras",
        "CFG scale": number(7.0),
        "Seed": 1234,
        "Size": "512x768",
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "VAE hash": None,
        "Denoising strength": 0.5,
        "Clip skip": 2,
        "Lora hashes": "add_detail: 7c6bad76eb54",
    }
    text = format_infotext("masterpiece, best quality, 1girl", "lowres, bad anatomy", params)
    assert text == (
        "masterpiece, best quality, 1girl\n"
        "Negative prompt: lowres, bad anatomy\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
        "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.5, Clip skip: 2, "
        'Lora hashes: "add_detail: 7c6bad76eb54"'
    )


def test_no_negative_prompt_line_when_empty():
    assert format_infotext("cat", "", {"Steps": 4}) == "cat\nSteps: 4"


def test_quote_and_numbers():
    assert quote("plain") == "plain"
    assert quote('a, "b"') == '"a, \\"b\\""'
    assert number(7.0) == "7"
    assert number(7.5) == 7.5


def test_controlnet_unit_is_quoted_as_one_value():
    unit = controlnet_unit_text({"Module": "canny", "Model": "control_canny [abc]", "Weight": 1.0})
    text = format_infotext("p", "", {"Steps": 1, "ControlNet 0": unit})
    assert text == 'p\nSteps: 1, ControlNet 0: "Module: canny, Model: control_canny [abc], Weight: 1.0"'
