"""Numerical precision of the ranker (``ExperimentConfig.precision``), recorded in every result row.

* ``fp32``: everything in float32 (the default);
* ``bf16``: the training's forward passes under :func:`torch.autocast` with bfloat16 on the run's
  device (CPU with AVX-512 BF16 / AMX, or a GPU); weights, optimiser state and losses stay float32
  (the outputs are cast back before the losses). The held-out evaluation and the search rank in
  float32: bfloat16 scores of similar cells tie, and ties would favour low row numbers;
* ``tf32``: float32 storage, TensorFloat-32 matrix products on a CUDA GPU (refused on the CPU).
"""
from __future__ import annotations

import contextlib

import torch



def autocast(precision: str, device: torch.device | str):
    """The context a forward pass runs in for ``precision`` on ``device``."""
    device = torch.device(device)
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def matmul_precision(precision: str, device: torch.device | str):
    """On CUDA, TF32 matrix products and convolutions for the duration of a run with
    ``precision="tf32"`` and none otherwise; the process-wide settings are restored afterwards."""
    device = torch.device(device)
    if device.type != "cuda":
        if precision == "tf32":
            from ..errors import ConfigError

            raise ConfigError(f"precision: tf32 exists only on CUDA GPUs, this run is on {device}; use fp32 or bf16")
        yield
        return
    # on CUDA both flags are set either way: cuDNN's convolutions default to TF32, which a row
    # labelled fp32 must not use
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
