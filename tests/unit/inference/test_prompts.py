"""The WebUI prompt parser and chunker, against the WebUI's own examples."""

from __future__ import annotations

import pytest

from inference_image.prompts import CHUNK, Chunk, chunk_tokens, parse_prompt_attention, tokenize_prompt


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [  # the doctests of modules/prompt_parser.py in AUTOMATIC1111/stable-diffusion-webui
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.5730000000000004),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641000000000006),
                (".", 1.1),
            ],
        ),
        ("", [("", 1.0)]),
        ("[faded]", [("faded", 1 / 1.1)]),
        ("a BREAK b", [("a", 1.0), ("BREAK", -1), ("b", 1.0)]),
    ],
)
def test_parse_prompt_attention_matches_the_webui(prompt, expected):
    got = parse_prompt_attention(prompt)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


START, END, COMMA = 49406, 49407, 267


def chunks_of(*runs: tuple[list[int], float, bool]) -> list[Chunk]:
    return chunk_tokens(list(runs), COMMA, START, END, END)


def test_a_short_prompt_is_one_padded_chunk():
    [chunk] = chunks_of(([1, 2, 3], 1.2, False))
    assert chunk.tokens == [START, 1, 2, 3, END] + [END] * (CHUNK - 3)
    assert chunk.multipliers == [1.0, 1.2, 1.2, 1.2] + [1.0] * (CHUNK - 2)
    assert len(chunk.tokens) == 77


def test_long_prompts_continue_in_further_chunks():
    chunks = chunks_of((list(range(1, 101)), 1.0, False))
    assert len(chunks) == 2
    assert chunks[0].tokens[1:76] == list(range(1, 76))
    assert chunks[1].tokens[1:26] == list(range(76, 101))
    assert all(len(c.tokens) == 77 for c in chunks)


def test_break_starts_a_new_chunk():
    chunks = chunks_of(([1, 2], 1.0, False), ([], 1.0, True), ([3], 1.0, False))
    assert [c.tokens[:4] for c in chunks] == [[START, 1, 2, END], [START, 3, END, END]]


def test_text_after_a_near_comma_moves_to_the_next_chunk():
    # 70 tokens, a comma, then 10 more: the chunk is full at 75, the comma is within 20 tokens of the end
    chunks = chunks_of(([5] * 70 + [COMMA] + [6] * 10, 1.0, False))
    assert chunks[0].tokens[1:72] == [5] * 70 + [COMMA]
    assert chunks[0].tokens[72] == END
    assert chunks[1].tokens[1:11] == [6] * 10


def test_tokenize_prompt_strips_lora_tags_and_weights_words(tokenizer):
    [chunk] = tokenize_prompt("a (cat:1.5) <lora:style:0.7>", tokenizer)
    assert chunk.tokens[:4] == [START, 320, 2368, END]
    assert chunk.multipliers[:3] == [1.0, 1.0, 1.5]


def test_emphasis_scales_the_weighted_tokens_and_keeps_the_mean_like_the_webui():
    import torch

    from inference_image.prompts import _emphasized

    torch.manual_seed(0)
    z = torch.randn(1, 4, 8) + 0.5
    weights = [1.0, 1.3, 1.0, 0.5]
    scaled = z * torch.tensor(weights).reshape(1, -1, 1)
    # modules/sd_emphasis.py, EmphasisOriginal.after_transformers
    torch.testing.assert_close(_emphasized(z, weights), scaled * (z.mean() / scaled.mean()))
    assert _emphasized(z, [1.0] * 4) is z


def test_emphasis_of_a_chunk_whose_mean_is_zero_gives_no_nan():
    """A final layer norm without learned bias (random weights) gives states of mean 0: the WebUI's ratio of means
    is then 0/0, NaN in every embedding; the rounding of the mean decided whether a job got NaN."""
    import torch

    from inference_image.prompts import _emphasized

    z = torch.tensor([[[1.0, -1.0], [2.0, -2.0]]])  # mean exactly 0, as is the weighted one
    for weights in ([1.0, 1.0], [1.5, 1.0]):
        assert torch.isfinite(_emphasized(z, weights)).all()
    torch.testing.assert_close(_emphasized(z, [1.5, 1.0]), z * torch.tensor([1.5, 1.0]).reshape(1, -1, 1))
