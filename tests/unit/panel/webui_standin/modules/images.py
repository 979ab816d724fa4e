"""Stand-in of modules/images.py: save_image (recorded, and written under `path` as the WebUI would) and
image_grid."""

from pathlib import Path
from typing import Any

saved: list[dict[str, Any]] = []


def save_image(image: Any, path: str, basename: str, seed: Any = None, prompt: Any = None, extension: str = "png",
               info: Any = None, short_filename: bool = False, no_prompt: bool = False, grid: bool = False,
               pnginfo_section_name: str = "parameters", p: Any = None, **kwargs: Any) -> tuple[str, None]:
    target = Path(path) / f"{len(saved):05d}-{seed}.{extension}"
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target)
    saved.append({"path": str(target), "seed": seed, "prompt": prompt, "info": info, "grid": grid, "p": p})
    return str(target), None


def image_grid(imgs: list[Any], batch_size: int = 1, rows: Any = None) -> Any:
    from PIL import Image

    grid = Image.new("RGB", (sum(i.width for i in imgs), max(i.height for i in imgs)))
    return grid
