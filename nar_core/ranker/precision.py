"""Numerical precision of the ranker (``ExperimentConfig.precision``), recorded in every result row.

* ``fp32``: everything in float32 (the default);
* ``bf16``: forward passes under :func:`torch.autocast` with bfloat16 on the run's device (CPU
  with AVX-512 BF16 / AMX, or a GPU); weights, optimiser state and losses stay float32 (the model's
  outputs are cast back before the losses, so the ranking loss sees float32 score differences);
* ``tf32``: float32 storage, TensorFloat-32 matrix products on a CUDA GPU (refused on the CPU).
"""
from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "tf32")


def autocast(precision: str, device: torch.device | str):
    """The context a forward pass runs in for ``precision`` on ``device``."""
    device = torch.device(device)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def matmul_precision(precision: str, device: torch.device | str):
    """TF32 matrix products for the duration of a run with ``precision="tf32"`` (CUDA only);
    the process-wide setting is restored afterwards."""
    device = torch.device(device)
    if precision != "tf32":
        yield
        return
    if device.type != "cuda":
        from ..errors import ConfigError

        raise ConfigError(f"precision: tf32 exists only on CUDA GPUs, this run is on {device}; use fp32 or bf16")
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
