from __future__ import annotations

import json

from inference_image.tokenizer import VOCAB_SIZE, write_tokenizer


def test_the_standard_clip_vocabulary_is_rebuilt(tokenizer):
    assert len(tokenizer) == VOCAB_SIZE
    # token ids of openai/clip-vit-large-patch14
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer.convert_tokens_to_ids(",</w>") == 267
    assert tokenizer.pad_token_id == 49407


def test_sdxl_second_tokenizer_pads_with_exclamation_mark(tmp_path):
    folder = write_tokenizer(tmp_path / "tokenizer_2", pad_token="!")
    assert json.loads((folder / "tokenizer_config.json").read_text())["pad_token"] == "!"
