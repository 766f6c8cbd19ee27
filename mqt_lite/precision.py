"""Mixed precision: which autocast dtype a training step or a forward pass uses on a device, and its scaler.

`precision` (training) and `eval_precision` (evaluation and `predict`) are config fields with these values:
    "auto"  training: bf16 on CUDA GPUs with native bf16 (compute capability 8.0+: A100, H100, RTX 30xx and newer;
            and ROCm), fp16 + GradScaler on older ones (a T4, compute capability 7.5), bf16 on CPUs
            with native bf16 instructions (AVX512-BF16 or AMX), fp32 elsewhere (MPS included).
            evaluation: bf16 / fp16 on CUDA as above, fp32 on CPU and MPS, so CPU predictions are the same on
            every machine.
    "fp32"  no autocast.     "bf16"  bf16 autocast.     "fp16"  fp16 autocast (+ GradScaler when training).
On CPU, bf16 autocast leaves `scaled_dot_product_attention` in fp32 (see `attention.sdpa`): its bf16 backward
is slower than fp32 there at the head's small head dim, while the linear layers and convolutions gain most.
Measured numbers (speed and the fp32-vs-bf16 quality check of the bundled preset) are in the README.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic


def cuda_has_native_bf16(device: torch.device | str | None = None) -> bool:
    """True on GPUs that compute bf16 natively: NVIDIA compute capability 8.0 or newer (Ampere: A100, RTX 30xx,
    and later), and AMD GPUs under ROCm. Not `torch.cuda.is_bf16_supported()`: by default it also answers True
    where bf16 is only emulated (a T4, compute capability 7.5, can create bf16 tensors but has no bf16 tensor
    cores), and fp16 with a GradScaler is the fast choice there."""
    if torch.version.hip:
        return True
    try:
        return torch.cuda.get_device_capability(device)[0] >= 8
    except (AssertionError, RuntimeError):  # no CUDA build or no GPU: nothing to compute bf16 on
        return False


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (Linux: AVX512-BF16 or AMX-BF16 in /proc/cpuinfo)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: no portable way to ask, so stay in fp32
        return False
    return any(f in flags for f in CPU_BF16_FLAGS)


def check_precision(name: str, field: str = "precision") -> None:
    """ValueError naming the choices unless `name` is one of PRECISIONS."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown {field} {name!r}; valid: {list(PRECISIONS)}")


def autocast_dtype(precision: str, device: torch.device | str, training: bool = True) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None = plain fp32)."""
    check_precision(precision)
    device = torch.device(device)
    if precision == "fp32":
        return None
    if precision != "auto":
        return DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if cuda_has_native_bf16(device) else torch.float16
    if device.type == "cpu" and training and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> AbstractContextManager:
    """torch.autocast for `dtype` on the device's type, or a no-op for None."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is on only for fp16 (bf16 has fp32's range and needs none)."""
    device = torch.device(device)
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
