from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The CLIP tokenizer built offline from the open-clip-torch merges."""
    from transformers import CLIPTokenizer

    from inference_image.tokenizer import write_tokenizer

    folder: Path = write_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")
    return CLIPTokenizer.from_pretrained(str(folder))
