"""Gaussian blur that matches the FER2013 Training split shipped in ``../shared``.

That copy of the Training split is Gaussian-blurred (sigma about 3 px at 48x48; PublicTest is sharp).
Models trained on it see sharp faces only through the same blur. ``export.py`` therefore puts this blur
into the exported ONNX graph as its first op (sigma recorded as ``input.blurSigma`` in the model card);
runtimes feed the plain normalised crop and must NOT blur again. Kernel: weights ``exp(-x^2 / (2 sigma^2))``
for integer ``x`` in ``[-ceil(3 sigma), ceil(3 sigma)]``, normalised to sum 1, separable, borders replicated.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (k / k.sum()).float()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x: ``[N, 1, H, W]`` float; returns the blurred tensor (same shape). ``sigma <= 0`` is a no-op."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma)
    r = (len(k) - 1) // 2
    x = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, r, r), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1))
