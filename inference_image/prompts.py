"""WebUI prompt syntax -> text-encoder embeddings, as the AUTOMATIC1111 WebUI computes them.

`(word)` x1.1, `[word]` /1.1, `(word:1.3)`, `\\(` literals, `BREAK`, prompts of any length in 75-token
chunks (comma backtracking included), emphasis applied to the hidden states and the mean restored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch

from api_schema.prompt_tags import strip_lora_tags
from inference_image.errors import InvalidJob

_ATTENTION = re.compile(
    r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|
]|
[^\\()\[\]:]+|
:
""",
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
CHUNK = 75
COMMA_BACKTRACK = 20  # the WebUI's default `comma_padding_backtrack`


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:
    """Split a prompt into (text, weight) runs; BREAK is returned as ("BREAK", -1)."""
    res: list[list[Any]] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in _ATTENTION.finditer(text):
        part, weight = m.group(0), m.group(1)
        if part.startswith("\\"):
            res.append([part[1:], 1.0])
        elif part == "(":
            round_brackets.append(len(res))
        elif part == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif part == ")" and round_brackets:
            multiply_range(round_brackets.pop(), 1.1)
        elif part == "]" and square_brackets:
            multiply_range(square_brackets.pop(), 1 / 1.1)
        else:
            for i, piece in enumerate(_BREAK.split(part)):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([piece, 1.0])
    for pos in round_brackets:
        multiply_range(pos, 1.1)
    for pos in square_brackets:
        multiply_range(pos, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(str(t), float(w)) for t, w in res]


@dataclass
class Chunk:
    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)


def chunk_tokens(
    parsed: list[tuple[list[int], float, bool]], comma: int, start: int, end: int, pad: int
) -> list[Chunk]:
    """WebUI `tokenize_line`: (token ids, weight, is BREAK) runs -> 77-token chunks with BOS/EOS."""
    chunks: list[Chunk] = []
    chunk = Chunk()
    last_comma = -1

    def next_chunk() -> None:
        nonlocal chunk, last_comma
        fill = CHUNK - len(chunk.tokens)
        chunk.tokens = [start, *chunk.tokens, end] + [pad] * fill
        chunk.multipliers = [1.0, *chunk.multipliers, 1.0] + [1.0] * fill
        chunks.append(chunk)
        chunk = Chunk()
        last_comma = -1

    for tokens, weight, is_break in parsed:
        if is_break:
            next_chunk()
            continue
        for token in tokens:
            if token == comma:
                last_comma = len(chunk.tokens)
            elif len(chunk.tokens) == CHUNK and last_comma != -1 and len(chunk.tokens) - last_comma <= COMMA_BACKTRACK:
                cut = last_comma + 1
                moved = Chunk(chunk.tokens[cut:], chunk.multipliers[cut:])
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                next_chunk()
                chunk = moved
            if len(chunk.tokens) == CHUNK:
                next_chunk()
            chunk.tokens.append(token)
            chunk.multipliers.append(weight)
    if chunk.tokens or not chunks:
        next_chunk()
    return chunks


def tokenize_prompt(prompt: str, tokenizer: Any, convert: Any = None) -> list[Chunk]:
    """Chunks of one prompt for one tokenizer. `convert` expands textual-inversion names (diffusers)."""
    parsed = parse_prompt_attention(strip_lora_tags(prompt))
    runs: list[tuple[list[int], float, bool]] = []
    for text, weight in parsed:
        if weight == -1 and text == "BREAK":
            runs.append(([], 1.0, True))
            continue
        if convert is not None:
            text = convert(text, tokenizer)
        ids = tokenizer(text, truncation=False, add_special_tokens=False).input_ids if text else []
        runs.append((ids, weight, False))
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    # SD 1.x pads with the end token, SDXL's second encoder with "!" (id 0), as the WebUI does.
    return chunk_tokens(runs, comma, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)


def pad_chunks(chunks: list[Chunk], count: int, tokenizer: Any) -> list[Chunk]:
    """Append empty chunks so that cond and uncond have the same length (the WebUI's pad_cond_uncond)."""
    empty = tokenize_prompt("", tokenizer)[0]
    return chunks + [Chunk(list(empty.tokens), list(empty.multipliers)) for _ in range(count - len(chunks))]


@dataclass
class Encoded:
    embeds: torch.Tensor  # [1, 77 * chunks, dim]
    pooled: torch.Tensor | None = None


def _emphasized(z: torch.Tensor, multipliers: list[float]) -> torch.Tensor:
    """The WebUI's 'Original' emphasis: each token's states times its weight, then the whole scaled back to its
    former mean. A chunk without weights is left as it is (the WebUI's ratio of two equal means is 1 but for
    rounding), and so is one whose weighted mean is 0, where the WebUI's ratio is 0/0: NaN in every embedding."""
    if all(m == 1.0 for m in multipliers):
        return z
    original_mean = z.mean()
    z = z * torch.tensor(multipliers, device=z.device, dtype=z.dtype).reshape(1, -1, 1)
    new_mean = z.mean()
    return z * torch.where(new_mean == 0, torch.ones_like(new_mean), original_mean / new_mean)


def encode_chunks(
    chunks: list[Chunk], encoder: Any, clip_skip: int, penultimate: bool = False, pooled: bool = False
) -> Encoded:
    """Run each chunk through the encoder, apply emphasis and restore the mean (WebUI 'Original' emphasis)."""
    device = encoder.device
    outs, pooled_out = [], None
    for chunk in chunks:
        ids = torch.tensor([chunk.tokens], device=device)
        out = encoder(ids, output_hidden_states=True)
        if penultimate:
            z = out.hidden_states[-2]
        elif clip_skip > 1:
            layers = len(out.hidden_states) - 1
            if clip_skip > layers:
                raise InvalidJob(
                    f"clip skip {clip_skip} exceeds the text encoder's {layers} layers",
                    "override_settings.CLIP_stop_at_last_layers",
                )
            final_norm = (
                encoder.text_model.final_layer_norm if hasattr(encoder, "text_model") else encoder.final_layer_norm
            )
            z = final_norm(out.hidden_states[-clip_skip])
        else:
            z = out.last_hidden_state
        outs.append(_emphasized(z, chunk.multipliers))
        if pooled and pooled_out is None:
            pooled_out = out.text_embeds if hasattr(out, "text_embeds") else out[0]
    return Encoded(torch.cat(outs, dim=1), pooled_out)


@torch.no_grad()
def encode_prompts(pipe: Any, prompt: str, negative: str, clip_skip: int) -> dict[str, torch.Tensor]:
    """prompt_embeds / negative_prompt_embeds (and the pooled ones for SDXL) for one prompt pair."""
    convert = getattr(pipe, "maybe_convert_prompt", None)
    encoders = [(pipe.tokenizer, pipe.text_encoder)]
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    if sdxl:
        encoders.append((pipe.tokenizer_2, pipe.text_encoder_2))
    pos_parts, neg_parts = [], []
    pos_pooled = neg_pooled = None
    for index, (tokenizer, encoder) in enumerate(encoders):
        pos = tokenize_prompt(prompt, tokenizer, convert)
        neg = tokenize_prompt(negative, tokenizer, convert)
        count = max(len(pos), len(neg))
        pos, neg = pad_chunks(pos, count, tokenizer), pad_chunks(neg, count, tokenizer)
        last = index == len(encoders) - 1
        p = encode_chunks(pos, encoder, clip_skip, penultimate=sdxl, pooled=sdxl and last)
        n = encode_chunks(neg, encoder, clip_skip, penultimate=sdxl, pooled=sdxl and last)
        pos_parts.append(p.embeds)
        neg_parts.append(n.embeds)
        if sdxl and last:
            pos_pooled, neg_pooled = p.pooled, n.pooled
    out = {
        "prompt_embeds": torch.cat(pos_parts, dim=-1),
        "negative_prompt_embeds": torch.cat(neg_parts, dim=-1),
    }
    if sdxl:
        assert pos_pooled is not None and neg_pooled is not None
        if not negative.strip():  # the WebUI zeroes an empty SDXL negative prompt
            out["negative_prompt_embeds"] = torch.zeros_like(out["negative_prompt_embeds"])
            neg_pooled = torch.zeros_like(neg_pooled)
        out["pooled_prompt_embeds"], out["negative_pooled_prompt_embeds"] = pos_pooled, neg_pooled
    return out
