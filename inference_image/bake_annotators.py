"""Download the ControlNet annotator weights into a folder at image build time (never at run time).

`python -m inference_image.bake_annotators DEST` fetches the files named in `api_schema.preprocessors`
from the lllyasviel/Annotators repository; the server finds them through `SDCLOUD_ANNOTATOR_DIR`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from api_schema.preprocessors import ANNOTATOR_NAMES

REPOSITORY = "lllyasviel/Annotators"
FILENAMES = {
    "body_pose_model": "body_pose_model.pth",
    "hand_pose_model": "hand_pose_model.pth",
    "facenet": "facenet.pth",
    "dpt_hybrid-midas-501f0c75": "dpt_hybrid-midas-501f0c75.pt",
    "sk_model": "sk_model.pth",
    "sk_model2": "sk_model2.pth",
    "ControlNetHED": "ControlNetHED.pth",
    "table5_pidinet": "table5_pidinet.pth",
}


def bake(dest: Path) -> list[Path]:
    from huggingface_hub import hf_hub_download

    missing = set(ANNOTATOR_NAMES) - set(FILENAMES)
    if missing:
        raise SystemExit(f"no file known for annotator(s) {sorted(missing)}")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for filename in FILENAMES.values():
        source = hf_hub_download(REPOSITORY, filename)
        written.append(Path(shutil.copy(source, dest / filename)))
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m inference_image.bake_annotators DEST")
    for path in bake(Path(sys.argv[1])):
        print(path)
