"""Model registry. Every model maps ``[N, 1, 48, 48]`` normalised grayscale to ``[N, 7]`` logits.

``@register("name")`` adds a factory; ``create_model(name, **kw)`` builds one. The ONNX export
names the input ``input`` and the output ``logits``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def deco(fn: Callable[..., nn.Module]):
        _REGISTRY[name] = fn
        return fn
    return deco


def create_model(name: str, num_classes: int = 7, **kw) -> nn.Module:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](num_classes=num_classes, **kw)


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 followed by pointwise 1x1 (Xception's separable convolution), then BN."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )


class XceptionBlock(nn.Module):
    """mini-Xception residual module: sep-conv, ReLU, sep-conv, 3x3/2 max-pool, plus a 1x1/2 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))
        self.body = nn.Sequential(
            SeparableConv(cin, cout), nn.ReLU(inplace=True), SeparableConv(cout, cout),
            nn.MaxPool2d(3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class MiniXception(nn.Module):
    """Lightweight reference design (Arriaga et al. 2017): residual depthwise-separable blocks and
    global average pooling, no dense layers. ``widths`` sets the stem and the four block widths."""

    def __init__(self, num_classes: int = 7, stem: int = 8, widths: tuple[int, ...] = (16, 32, 64, 128),
                 dropout: float = 0.0, stem_stride: int = 1):
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(1, stem // stem_stride), conv_bn_relu(stem // stem_stride, stem, 3, stem_stride))
        blocks, cin = [], stem
        for w in widths:
            blocks.append(XceptionBlock(cin, w))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Conv2d(cin, num_classes, 3, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.blocks(self.stem(x)))
        return self.pool(self.head(x)).flatten(1)


@register("mini_xception")
def mini_xception(num_classes: int = 7, **kw) -> nn.Module:
    """The published mini-Xception sizes (~60k parameters)."""
    return MiniXception(num_classes, stem=8, widths=(16, 32, 64, 128), **kw)


@register("ferkit_lite")
def ferkit_lite(num_classes: int = 7, **kw) -> nn.Module:
    """ferkit's lite model: the mini-Xception design, wider (32-256 channels, ~0.2M parameters, < 1 MB fp32)
    with a stride-2 stem so that the separable blocks run at 24, 12 and 6 px: 3x cheaper to train on a CPU
    than running the first block at 48 px."""
    return MiniXception(num_classes, stem=32, widths=(64, 128, 256), stem_stride=2, dropout=kw.pop("dropout", 0.1), **kw)
