"""The WebUI's refiner (`refiner_checkpoint`, `refiner_switch_at`), as sd_samplers_common.apply_refiner runs it.

Before each model call the WebUI computes how far the denoising is, (999 - timestep) / 1000, and once that
reaches `refiner_switch_at` (at once when it is left out) it swaps in the refiner checkpoint, encodes the
prompts with its text encoders and goes on with the same sampler and noise; the refiner's VAE decodes.
Here the task pipeline's UNet is a `SwitchingUNet` that does the same from inside the diffusers loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from inference_image.errors import InvalidJob

_RESIDUALS = (
    "down_block_additional_residuals",
    "mid_block_additional_residual",
    "down_intrablock_additional_residuals",
)


@dataclass
class Refiner:
    base: Any  # the refiner checkpoint's pipeline
    switch_at: float | None
    title: str  # the WebUI's short title: "name [hash]"
    switched: bool = False  # whether any pass of the job switched (the infotext entries are written then)

    def infotext_entries(self) -> dict[str, Any]:
        if not self.switched:
            return {}
        return {"Refiner": self.title, "Refiner switch at": self.switch_at}


class SwitchingUNet(torch.nn.Module):
    """The job's UNet until the switch, the refiner's after it (with the refiner's prompt embeddings).

    ControlNet residuals go on into the refiner when its UNet has the same blocks (the WebUI loads such a
    refiner into the model the extension hooked); otherwise they stop at the switch, as the hook does."""

    def __init__(
        self,
        unet: Any,
        refiner: Refiner,
        embeds: dict[str, torch.Tensor],
        cfg: bool,
        on_switch: Callable[[], None],
    ) -> None:
        super().__init__()
        self.inner = unet
        self.refiner_unet = refiner.base.unet
        self.refiner = refiner
        self.embeds = embeds
        self.cfg = cfg
        self.on_switch = on_switch
        self.switched = False
        self.keeps_residuals = list(unet.config.block_out_channels) == list(
            self.refiner_unet.config.block_out_channels
        )

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def _pair(self, negative: str, positive: str, batch: int) -> torch.Tensor:
        count = batch // 2 if self.cfg else batch
        pos = self.embeds[positive].expand(count, *self.embeds[positive].shape[1:])
        if not self.cfg:
            return pos
        neg = self.embeds[negative].expand(count, *self.embeds[negative].shape[1:])
        return torch.cat([neg, pos])

    def forward(self, sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor, *args: Any,
                **kwargs: Any) -> Any:
        if not self.switched:
            t = float(torch.as_tensor(timestep).max())
            if self.refiner.switch_at is None or (999 - round(t)) / 1000 >= self.refiner.switch_at:
                self.switched = self.refiner.switched = True
                self.on_switch()
        if not self.switched:
            return self.inner(sample, timestep, encoder_hidden_states, *args, **kwargs)
        batch = encoder_hidden_states.shape[0]
        states = self._pair("negative_prompt_embeds", "prompt_embeds", batch).to(encoder_hidden_states)
        added = kwargs.get("added_cond_kwargs")
        if added and "text_embeds" in added:
            pooled = self._pair("negative_pooled_prompt_embeds", "pooled_prompt_embeds", batch)
            kwargs["added_cond_kwargs"] = {**added, "text_embeds": pooled.to(added["text_embeds"])}
        if not self.keeps_residuals:
            for name in _RESIDUALS:
                kwargs.pop(name, None)
        return self.refiner_unet(sample, timestep, states, *args, **kwargs)


def attach(pipe: Any, refiner: Refiner, embeds: dict[str, torch.Tensor], cfg: bool) -> None:
    """Make the task pipeline `pipe` hand over to the refiner; `embeds`: the pass's prompts, refiner-encoded."""
    def sdxl(p: Any) -> bool:
        return getattr(p, "text_encoder_2", None) is not None

    if sdxl(pipe) != sdxl(refiner.base) or refiner.base.unet.config.in_channels != pipe.unet.config.in_channels:
        raise InvalidJob("the refiner must be a checkpoint of the same kind as the job's (SD 1.x or SDXL)",
                         "refiner_checkpoint")

    def switch_vae() -> None:
        pipe.vae = refiner.base.vae

    pipe.unet = SwitchingUNet(pipe.unet, refiner, embeds, cfg, switch_vae)
