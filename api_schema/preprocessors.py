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

# The sd-webui-controlnet API accepts these older names too.
PREPROCESSOR_ALIASES: dict[str, str] = {
    "invert": "invert (from white bg & black line)",
    "lineart_standard": "lineart_standard (from white bg & black line)",
    "lineart": "lineart_realistic",
    "depth": "depth_midas",
    "pidinet_scribble": "scribble_pidinet",
}

ANNOTATOR_NAMES: tuple[str, ...] = tuple(
    sorted({n for p in PREPROCESSORS.values() for n in (*p.required, *p.optional)})
)


def canonical_preprocessor(module: str) -> str:
    """The canonical name of a unit's module; ValueError lists the supported ones."""
    name = PREPROCESSOR_ALIASES.get(module, module)
    if name not in PREPROCESSORS:
        raise ValueError(f"unknown ControlNet preprocessor '{module}'; supported: {', '.join(PREPROCESSORS)}")
    return name


def annotators_for(module: str) -> tuple[str, ...]:
    """Every annotator model name a module can use (required first, then optional)."""
    pre = PREPROCESSORS[canonical_preprocessor(module)]
    return (*pre.required, *pre.optional)
