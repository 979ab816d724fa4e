"""ControlNet preprocessors (a unit's `module`) that sd-cloud runs, and the annotator models each needs.

Annotator weights are registered models of type `annotator` whose name is the original file's stem
(e.g. `body_pose_model` for lllyasviel/Annotators' body_pose_model.pth); the control plane resolves the
names listed here into `ResolvedModels.annotators` for each enabled unit. Optional ones are used when
registered (openpose draws hands and face only where their weights exist).
"""

from __future__ import annotations

from typing import NamedTuple


class Preprocessor(NamedTuple):
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


PREPROCESSORS: dict[str, Preprocessor] = {
    "none": Preprocessor(),
    "canny": Preprocessor(),
    "invert (from white bg & black line)": Preprocessor(),
    "lineart_standard (from white bg & black line)": Preprocessor(),
    "scribble_xdog": Preprocessor(),
    "openpose": Preprocessor(("body_pose_model",)),
    # Hands and face are drawn where their weights are registered (or baked in), the body always.
    "openpose_hand": Preprocessor(("body_pose_model",), ("hand_pose_model",)),
    "openpose_face": Preprocessor(("body_pose_model",), ("facenet",)),
    "openpose_faceonly": Preprocessor(("body_pose_model",), ("facenet",)),
    "openpose_full": Preprocessor(("body_pose_model",), ("hand_pose_model", "facenet")),
    "depth_midas": Preprocessor(("dpt_hybrid-midas-501f0c75",)),
    "lineart_realistic": Preprocessor(("sk_model",)),
    "lineart_coarse": Preprocessor(("sk_model2",)),
    "scribble_hed": Preprocessor(("ControlNetHED",)),
    "scribble_pidinet": Preprocessor(("table5_pidinet",)),
}

# sd-webui-controlnet's own table of older names (a preprocessor's `name` where its `label` differs), v1.1.455.
PREPROCESSOR_ALIASES: dict[str, str] = {
    "invert": "invert (from white bg & black line)",
    "densepose": "densepose (pruple bg & purple torso)",
    "densepose_parula": "densepose_parula (black bg & blue torso)",
    "depth": "depth_midas",
    "ip-adapter_clip_sd15": "ip-adapter_clip_h",
    "ip-adapter_clip_sdxl": "ip-adapter_clip_g",
    "lineart": "lineart_realistic",
    "lineart_standard": "lineart_standard (from white bg & black line)",
    "normal_map": "normal_midas",
    "pidinet_scribble": "scribble_pidinet",
    "anime_face_segment": "seg_anime_face",
    "oneformer_ade20k": "seg_ofade20k",
    "oneformer_coco": "seg_ofcoco",
    "segmentation": "seg_ufade20k",
    "hed": "softedge_hed",
    "hed_safe": "softedge_hedsafe",
    "pidinet": "softedge_pidinet",
    "pidinet_safe": "softedge_pidisafe",
    "color": "t2ia_color_grid",
    "pidinet_sketch": "t2ia_sketch_pidi",
    "clip_vision": "t2ia_style_clipvision",
}

# Every other preprocessor the extension has (by label), which sd-cloud does not run.
OTHER_EXTENSION_PREPROCESSORS: frozenset[str] = frozenset({
    *PREPROCESSOR_ALIASES.values(), "animal_openpose", "depth_anything", "depth_anything_v2", "depth_hand_refiner",
    "depth_leres", "depth_leres++", "depth_zoe", "dw_openpose_full", "instant_id_face_embedding",
    "instant_id_face_keypoints", "ip-adapter_clip_sdxl_plus_vith", "ip-adapter_face_id", "ip-adapter_face_id_plus",
    "lineart_anime", "lineart_anime_denoise", "mediapipe_face", "mlsd", "normal_bae", "recolor_intensity",
    "recolor_luminance", "reference_adain", "reference_adain+attn", "reference_only", "revision_clipvision",
    "revision_ignore_prompt", "threshold", "tile_colorfix", "tile_colorfix+sharp", "tile_resample", "blur_gaussian",
    "shuffle", "inpaint", "inpaint_only", "inpaint_only+lama", "ip-adapter-auto", "mobile_sam", "normal_dsine",
    "facexlib", "ip-adapter_pulid", "softedge_teed", "softedge_anyline",
} - set(PREPROCESSORS))

ANNOTATOR_NAMES: tuple[str, ...] = tuple(
    sorted({n for p in PREPROCESSORS.values() for n in (*p.required, *p.optional)})
)


def canonical_preprocessor(module: str) -> str:
    """The canonical name of a unit's module; ValueError lists the supported ones."""
    name = PREPROCESSOR_ALIASES.get(module.strip(), module.strip())
    if name in PREPROCESSORS:
        return name
    if name.lower() in ("", "none"):
        return "none"
    if name in OTHER_EXTENSION_PREPROCESSORS:
        problem = f"ControlNet preprocessor '{name}' is not implemented by sd-cloud"
    else:
        problem = f"unknown ControlNet preprocessor '{module}'"
    raise ValueError(f"{problem}; supported: {', '.join(PREPROCESSORS)}")


def annotators_for(module: str) -> tuple[str, ...]:
    """Every annotator model name a module can use (required first, then optional)."""
    pre = PREPROCESSORS[canonical_preprocessor(module)]
    return (*pre.required, *pre.optional)
