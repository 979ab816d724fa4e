"""Stand-in of modules/processing.py: the processing objects, Processed and process_images."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StableDiffusionProcessingTxt2Img:
    prompt: str = ""
    negative_prompt: str = ""
    sampler_name: str = "Euler a"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    seed: int = -1
    batch_size: int = 1
    n_iter: int = 1
    scripts: Any = None
    script_args: tuple[Any, ...] = ()
    outpath_samples: str = "outputs/txt2img-images"
    outpath_grids: str = "outputs/txt2img-grids"
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False


@dataclass
class StableDiffusionProcessingImg2Img(StableDiffusionProcessingTxt2Img):
    init_images: list[Any] = field(default_factory=list)
    denoising_strength: float = 0.75


class Processed:
    def __init__(
        self,
        p: Any,
        images_list: list[Any],
        seed: int = -1,
        info: str = "",
        subseed: Any = None,
        all_prompts: Any = None,
        all_negative_prompts: Any = None,
        all_seeds: Any = None,
        all_subseeds: Any = None,
        index_of_first_image: int = 0,
        infotexts: Any = None,
        comments: str = "",
        extra_images_list: Any = None,
    ) -> None:
        self.images = images_list
        self.seed = seed
        self.info = info
        self.all_prompts = all_prompts or [p.prompt]
        self.all_seeds = all_seeds or [seed]
        self.infotexts = infotexts or [info]


local_calls: list[Any] = []


def process_images(p: Any) -> Processed:
    """The WebUI generating on its own GPU; here it only records that it was asked to."""
    local_calls.append(p)
    return Processed(p, [], info="generated locally")
