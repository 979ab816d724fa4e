"""Linear layers in float8 (e4m3): the weights quantized once with one scale per tensor, the activations
quantized on each call with one dynamic scale, one `torch._scaled_mm` (the GPU's float8 tensor cores).

Plain tensors only, no tensor subclass: the layer is graphed, traced into an artifact and loaded like any other
module. The float8 weights are kept as bytes (uint8) and the scales as int32 bit patterns, so a pipeline's
`.to(dtype)` (diffusers' `from_pipe` makes one per job) leaves them as they are instead of casting them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

FLOAT8 = torch.float8_e4m3fn
LIMIT = torch.finfo(FLOAT8).max
_TINY = 1e-12


def supported(device: torch.device) -> bool:
    """Whether `device` multiplies in float8: CUDA compute capability 8.9 and up (Ada, Hopper; not the A10G of
    ml.g5 instances, 8.6), or the CPU (slow, for the tests)."""
    return device.type != "cuda" or torch.cuda.get_device_capability(device) >= (8, 9)


def _scale(tensor: torch.Tensor) -> torch.Tensor:
    """The float32 scale that maps `tensor`'s largest magnitude onto float8's largest value."""
    return (tensor.abs().amax().float() / LIMIT).clamp(min=_TINY)


def _quantized(tensor: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (tensor.float() / scale).clamp(-LIMIT, LIMIT).to(FLOAT8)


class Float8Linear(torch.nn.Module):
    """`linear` in float8: y = (x / sx) (W / sw)^T * sx * sw + b. `fast_accum`: the GEMM's fast accumulation on
    Hopper (torchao's choice for forward passes; fewer promotions of the partial sums to float32)."""

    weight_bytes: torch.Tensor
    weight_scale_bits: torch.Tensor

    def __init__(self, linear: torch.nn.Linear, fast_accum: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.fast_accum = fast_accum
        weight = linear.weight.detach()
        scale = _scale(weight)
        self.register_buffer("weight_bytes", _quantized(weight, scale).view(torch.uint8).contiguous())
        self.register_buffer("weight_scale_bits", scale.reshape(()).view(torch.int32).clone())
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.gemm(*self.quantize_input(x.reshape(-1, self.in_features)), x.dtype)
        return out.reshape(*x.shape[:-1], self.out_features)

    def quantize_input(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`rows` in float8 with their one dynamic scale."""
        scale = _scale(rows)
        return _quantized(rows, scale).contiguous(), scale

    def gemm(self, rows: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The product in `dtype`, the bias added by the GEMM itself where it has that dtype: a separate add
        reads and writes the whole output again, which cost as much as float8 saved (RESULTS.md, run 19)."""
        fused = self.bias is not None and self.bias.dtype == dtype
        out = torch._scaled_mm(
            rows,
            self.weight_bytes.view(FLOAT8).t(),  # column-major, as _scaled_mm wants its second operand
            scale_a=scale,
            scale_b=self.weight_scale_bits.view(torch.float32),
            bias=self.bias if fused else None,
            out_dtype=dtype,
            use_fast_accum=self.fast_accum,
        )
        return out if self.bias is None or fused else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def quantize(module: torch.nn.Module, wanted: Callable[[torch.nn.Linear, str], bool]) -> None:
    """Swap each `torch.nn.Linear` under `module` for which `wanted(linear, name)` holds for a `Float8Linear`."""
    for name, linear in list(module.named_modules()):
        if isinstance(linear, torch.nn.Linear) and wanted(linear, name):
            parent_name, _, attr = name.rpartition(".")
            setattr(module.get_submodule(parent_name), attr, Float8Linear(linear))
