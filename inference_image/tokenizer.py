"""The CLIP BPE tokenizer files, built offline from the merges that ship in the `open-clip-torch` wheel.

The standard 49408-token CLIP vocabulary is: 256 byte symbols, the same with `</w>`, the first 48894
merges, and the two special tokens. `python -m inference_image.tokenizer DEST` writes the tokenizer
folder (the Dockerfile runs it at build time; the loader runs it on first use when it is missing).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

VOCAB_SIZE = 49408
_MERGES = VOCAB_SIZE - 256 * 2 - 2
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(c) for c in chars], strict=True))


def _bpe_merges() -> list[str]:
    # find_spec locates the package without importing it (open_clip's own imports are heavy).
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open-clip-torch is not installed: pip install --no-deps open-clip-torch")
    source = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(source, "rt", encoding="utf-8") as text:
        lines = text.read().split("\n")
    return lines[1 : _MERGES + 1]  # the first line is a version header


def write_tokenizer(dest: Path, pad_token: str = EOS) -> Path:
    """Write vocab.json, merges.txt and the tokenizer config into `dest` (idempotent)."""
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / "vocab.json").is_file() and (dest / "merges.txt").is_file():
        return dest
    merges = _bpe_merges()
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    if len(vocab) != VOCAB_SIZE:
        raise RuntimeError(f"CLIP vocabulary has {len(vocab)} entries, expected {VOCAB_SIZE}")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "do_lower_case": True,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": pad_token,
    }
    tmp = dest / "merges.txt.tmp"
    tmp.write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (dest / "special_tokens_map.json").write_text(
        json.dumps({k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}),
        encoding="utf-8",
    )
    (dest / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}), encoding="utf-8")
    tmp.replace(dest / "merges.txt")
    return dest


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m inference_image.tokenizer DEST")
    write_tokenizer(Path(argv[0]) / "tokenizer")
    write_tokenizer(Path(argv[0]) / "tokenizer_2", pad_token="!")


if __name__ == "__main__":
    main(sys.argv[1:])
