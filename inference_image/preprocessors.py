"""ControlNet preprocessors: a unit's input image -> its control map, as sd-webui-controlnet computes them.

Network annotators come from `controlnet_aux` with weights from local files (the job's `annotator`
models or the image's baked folder), loaded with `torch.load(weights_only=True)`, never from a hub.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from api_schema.preprocessors import PREPROCESSORS, canonical_preprocessor
from inference_image.errors import InvalidJob, ModelLoadError

# Default thresholds per module as the extension's UI sets them (used when a unit sends -1).
DEFAULT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "canny": (100.0, 200.0),
    "scribble_xdog": (32.0, 64.0),
}


def _hwc3(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = image[:, :, None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]


def _scaled(image: np.ndarray, resolution: int) -> np.ndarray:
    """Scale so that the shorter side is `resolution`, as the extension does before detection."""
    import cv2

    h, w = image.shape[:2]
    k = resolution / min(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)


def _canny(image: np.ndarray, a: float, b: float) -> np.ndarray:
    import cv2

    return _hwc3(cv2.Canny(image, int(a), int(b)))


def _invert(image: np.ndarray, a: float, b: float) -> np.ndarray:
    return 255 - image


def _lineart_standard(image: np.ndarray, a: float, b: float) -> np.ndarray:
    import cv2

    x = image.astype(np.float32)
    g = cv2.GaussianBlur(x, (0, 0), 6.0)
    intensity = np.min(g - x, axis=2).clip(0, 255)
    strong = intensity[intensity > 8]
    intensity /= max(16.0, float(np.median(strong)) if strong.size else 16.0)
    return _hwc3((intensity * 127).clip(0, 255).astype(np.uint8))


def _scribble_xdog(image: np.ndarray, a: float, b: float) -> np.ndarray:
    import cv2

    g1 = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.5)
    g2 = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 5.0)
    dog = (255 - np.min(g2 - g1, axis=2)).clip(0, 255).astype(np.uint8)
    result = np.zeros_like(image, dtype=np.uint8)
    result[2 * (255 - dog) > a] = 255
    return result


_PLAIN: dict[str, Callable[[np.ndarray, float, float], np.ndarray]] = {
    "canny": _canny,
    "invert (from white bg & black line)": _invert,
    "lineart_standard (from white bg & black line)": _lineart_standard,
    "scribble_xdog": _scribble_xdog,
}


def _sized_like(
    skeleton: torch.nn.Module, weights: dict[str, torch.Tensor], key_of: Callable[[str], str]
) -> torch.nn.Module:
    """Rebuild every Conv2d of `skeleton` with the shapes found in `weights`, then load them.

    The openpose networks hard-code their widths; reading them from the file lets a smaller network of
    the same layout (the sample models) run through the same code as the original weights.
    """
    for name, module in list(skeleton.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Conv2d):
                full = f"{name}.{child_name}" if name else child_name
                weight = weights.get(key_of(full + ".weight"))
                if weight is None:
                    raise ModelLoadError(f"annotator weights lack {key_of(full + '.weight')}")
                conv = torch.nn.Conv2d(
                    weight.shape[1],
                    weight.shape[0],
                    (weight.shape[2], weight.shape[3]),
                    stride=(child.stride[0], child.stride[1]),
                    padding=child.padding if isinstance(child.padding, str) else (child.padding[0], child.padding[1]),
                )
                setattr(module, child_name, conv)
    state = {k: weights[key_of(k)] for k in skeleton.state_dict()}
    skeleton.load_state_dict(state)
    return skeleton.eval()


def _torch_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"annotator file {path.name} could not be read ({exc})") from exc
    return data.get("state_dict", data) if isinstance(data, dict) else data


def _load_openpose(files: dict[str, Path], device: str) -> Any:
    from controlnet_aux.open_pose import Body, Face, Hand, OpenposeDetector
    from controlnet_aux.open_pose.model import bodypose_model, handpose_model

    def drop_block(key: str) -> str:  # the original files name layers without their block
        return key.split(".", 1)[1]

    body = Body.__new__(Body)
    with torch.device("meta"):
        skeleton = bodypose_model()
    body.model = _sized_like(skeleton, _torch_weights(files["body_pose_model"]), drop_block).to(device)
    hand = face = None
    if "hand_pose_model" in files:
        hand = Hand.__new__(Hand)
        with torch.device("meta"):
            hand_skeleton = handpose_model()
        hand.model = _sized_like(hand_skeleton, _torch_weights(files["hand_pose_model"]), drop_block).to(device)
    if "facenet" in files:
        face = Face(str(files["facenet"]))
        face.model.to(device)
    return OpenposeDetector(body, hand, face)


def _load_network(module: str, files: dict[str, Path], device: str) -> Any:
    """The controlnet_aux detector of a network preprocessor, from local weight files, on `device`."""
    if module.startswith("openpose"):
        return _load_openpose(files, device)
    if module == "depth_midas":
        from controlnet_aux.midas import MidasDetector
        from controlnet_aux.midas.api import MiDaSInference

        path = files["dpt_hybrid-midas-501f0c75"]
        return MidasDetector(MiDaSInference(model_type="dpt_hybrid", model_path=str(path)))
    if module in ("lineart_realistic", "lineart_coarse"):
        from controlnet_aux.lineart import Generator, LineartDetector

        net = Generator(3, 1, 3)
        net.load_state_dict(_torch_weights(files["sk_model" if module == "lineart_realistic" else "sk_model2"]))
        net.eval()
        return LineartDetector(net, net)
    if module == "scribble_hed":
        from controlnet_aux.hed import ControlNetHED_Apache2, HEDdetector

        hed = ControlNetHED_Apache2()
        hed.load_state_dict(_torch_weights(files["ControlNetHED"]))
        return HEDdetector(hed.float().eval())
    if module == "scribble_pidinet":
        from controlnet_aux.pidi import PidiNetDetector
        from controlnet_aux.pidi.model import pidinet

        pidi = pidinet()
        pidi.load_state_dict({k.replace("module.", ""): v for k, v in _torch_weights(files["table5_pidinet"]).items()})
        return PidiNetDetector(pidi.eval())
    raise InvalidJob(f"preprocessor '{module}' has no network", "module")


def _run_network(module: str, detector: Any, image: np.ndarray, res: int) -> np.ndarray:
    common = {"detect_resolution": res, "image_resolution": res, "output_type": "np"}
    if module.startswith("openpose"):
        return detector(
            image,
            include_body=module != "openpose_faceonly",
            include_hand=module in ("openpose_hand", "openpose_full") and detector.hand_estimation is not None,
            include_face=module in ("openpose_face", "openpose_faceonly", "openpose_full")
            and detector.face_estimation is not None,
            **common,
        )
    if module == "depth_midas":
        return detector(image, **common)
    if module.startswith("lineart_"):
        return detector(image, coarse=module == "lineart_coarse", **common)
    return detector(image, scribble=True, **common)


class Preprocessors:
    """Runs preprocessors; network detectors are loaded once per set of weight files and cached."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._detectors: dict[tuple[str, tuple[Path, ...]], Any] = {}

    def run(
        self,
        module: str,
        image: Image.Image,
        resolution: int,
        threshold_a: float,
        threshold_b: float,
        files: dict[str, Path],
    ) -> Image.Image:
        name = canonical_preprocessor(module)
        if name == "none":
            return image
        a, b = DEFAULT_THRESHOLDS.get(name, (0.0, 0.0))
        a = a if threshold_a < 0 else threshold_a
        b = b if threshold_b < 0 else threshold_b
        pixels = np.asarray(image.convert("RGB"))
        if name in _PLAIN:
            return Image.fromarray(_PLAIN[name](_scaled(pixels, resolution), a, b))
        spec = PREPROCESSORS[name]
        missing = [n for n in spec.required if n not in files]
        if missing:
            raise InvalidJob(
                f"preprocessor '{name}' needs the annotator model(s) {', '.join(missing)}: "
                "register them (type annotator) or use an image that bakes them in",
                "module",
            )
        usable = {n: files[n] for n in (*spec.required, *spec.optional) if n in files}
        key = (name.split("_")[0] if name.startswith("openpose") else name, tuple(sorted(usable.values())))
        if key not in self._detectors:
            detector = _load_network(name, usable, self.device)
            self._detectors[key] = detector if name.startswith("openpose") else detector.to(self.device)
        with torch.no_grad():
            out = _run_network(name, self._detectors[key], pixels, resolution)
        return Image.fromarray(_hwc3(np.asarray(out)))
