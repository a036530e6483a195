"""Batched data augmentation on NCHW float tensors (vectorised: one affine warp per batch).

Per sample: rotation, shear, zoom, width/height shifts (one random affine matrix each, applied with
``grid_sample``), horizontal flip, and optional random erasing. Doing it per batch keeps a 2-core
CPU busy on the network instead of on per-image PIL transforms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    rotation_deg: float = 15.0
    shear_deg: float = 8.0
    zoom: float = 0.15          # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.12         # fraction of the image size
    hflip: bool = True
    erase_p: float = 0.25       # probability of one random-erasing rectangle
    erase_area: tuple[float, float] = (0.02, 0.15)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """x: float32 ``[N, 1, H, W]`` normalised, on any device; returns an augmented tensor of the same shape and device.
    Random numbers come from ``gen`` (a CPU generator), so a run is reproducible whatever the device."""
    n, _, h, w = x.shape

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    rot = uniform(-cfg.rotation_deg, cfg.rotation_deg) * math.pi / 180
    shear = uniform(-cfg.shear_deg, cfg.shear_deg) * math.pi / 180
    scale = uniform(1 - cfg.zoom, 1 + cfg.zoom)
    tx = uniform(-cfg.shift, cfg.shift) * 2
    ty = uniform(-cfg.shift, cfg.shift) * 2
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if cfg.hflip else torch.ones(n)
    cos, sin = torch.cos(rot), torch.sin(rot)
    # theta maps output coords to input coords: (R * Shear) / scale, then flip x, then shift
    a = (cos / scale) * flip
    b = (-sin + cos * torch.tan(shear)) / scale
    c = (sin / scale) * flip
    d = (cos + sin * torch.tan(shear)) / scale
    theta = torch.stack([torch.stack([a, b, tx], 1), torch.stack([c, d, ty], 1)], 1).to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    if cfg.erase_p > 0:
        do = torch.rand(n, generator=gen) < cfg.erase_p
        area = uniform(*cfg.erase_area) * h * w
        aspect = torch.exp(uniform(math.log(0.3), math.log(3.3)))
        eh = torch.sqrt(area * aspect).clamp(1, h - 1)
        ew = torch.sqrt(area / aspect).clamp(1, w - 1)
        y0 = (torch.rand(n, generator=gen) * (h - eh)).floor()
        x0 = (torch.rand(n, generator=gen) * (w - ew)).floor()
        ys = torch.arange(h).view(1, h, 1)
        xs = torch.arange(w).view(1, 1, w)
        mask = (ys >= y0.view(n, 1, 1)) & (ys < (y0 + eh).view(n, 1, 1)) & \
               (xs >= x0.view(n, 1, 1)) & (xs < (x0 + ew).view(n, 1, 1)) & do.view(n, 1, 1)
        noise = torch.randn(out.shape, generator=gen) * 0.5
        mask, noise = mask.to(x.device), noise.to(x.device)  # random numbers drawn on the CPU generator: same on any device
        out = torch.where(mask.unsqueeze(1), noise, out)
    return out
