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


# Debian's PyTorch 1.13 aborts ("double free or corruption") in the backward pass of the 8-channel depthwise
# convolutions of mini_xception in channels_last; every other model here trains 1.3-2.8x faster in channels_last.
_CONTIGUOUS_ONLY = {"mini_xception"}


def memory_format(name: str) -> torch.memory_format:
    """The memory format to train and evaluate ``name`` in (channels_last unless it is known to crash)."""
    return torch.contiguous_format if name in _CONTIGUOUS_ONLY else torch.channels_last


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
    """ferkit's lite model until 2026-12-02 (now ``resnet_xs`` as int8): the mini-Xception design, wider (32-256 channels, ~0.2M parameters, < 1 MB fp32)
    with a stride-2 stem so that the separable blocks run at 24, 12 and 6 px: 3x cheaper to train on a CPU
    than running the first block at 48 px."""
    return MiniXception(num_classes, stem=32, widths=(64, 128, 256), stem_stride=2, dropout=kw.pop("dropout", 0.1), **kw)


# ---------------------------------------------------------------------------------------------------------------
# Comparison family (issue: accuracy). Same input/output contract; sized to train on 2 CPU cores in a few hours.
# ---------------------------------------------------------------------------------------------------------------

class VGG(nn.Module):
    """VGG-style: stacks of 3x3 conv-BN-ReLU with 2x2 max-pool, then global average pooling and a small head."""

    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (32, 64, 128, 256), convs_per_stage: int = 2,
                 dropout: float = 0.3):
        super().__init__()
        layers, cin = [], 1
        for w in widths:
            for _ in range(convs_per_stage):
                layers.append(conv_bn_relu(cin, w))
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al. 2018)."""

    def __init__(self, c: int, reduction: int = 8):
        super().__init__()
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // reduction, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(c // reduction, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs), optionally with squeeze-and-excitation before the residual add."""

    def __init__(self, cin: int, cout: int, stride: int = 1, se: bool = False):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(cin, cout, 3, stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.se = SqueezeExcite(cout) if se else nn.Identity()
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.body(x)) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-18-style: a stride-2 3x3 stem (48 -> 24 px; ``stem_stride=1`` keeps 48 px), stages of basic blocks
    (the first at stride 1, each later one halving the resolution), GAP, linear."""

    def __init__(self, num_classes: int = 7, widths: tuple[int, ...] = (32, 64, 128, 256), blocks: int | tuple[int, ...] = 2,
                 se: bool = False, dropout: float = 0.2, stem_stride: int = 2):
        super().__init__()
        self.stem = conv_bn_relu(1, widths[0], 3, stem_stride)
        stages, cin = [], widths[0]
        per_stage = (blocks,) * len(widths) if isinstance(blocks, int) else tuple(blocks)
        for i, w in enumerate(widths):
            for b in range(per_stage[i]):
                stages.append(BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1, se))
                cin = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


class SpatialTransformer(nn.Module):
    """Spatial transformer (Jaderberg et al. 2015): a small localisation net predicts an affine warp of the input,
    initialised to the identity, so the classifier can attend to (zoom into, re-centre) the informative region."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Sequential(
            nn.Conv2d(1, 8, 5, 2, 2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, 1, 1), nn.ReLU(inplace=True), nn.AvgPool2d(4), nn.Flatten(),  # 12x12 -> 3x3 at 48 px
            nn.Linear(16 * 9, 32), nn.ReLU(inplace=True), nn.Linear(32, 6))
        nn.init.zeros_(self.loc[-1].weight)
        with torch.no_grad():
            self.loc[-1].bias.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.loc(x).view(-1, 2, 3)
        # affine_grid(theta, x.shape, align_corners=False) written as a MatMul, which ONNX export supports
        h, w = x.shape[2], x.shape[3]
        ys = (torch.arange(h, dtype=x.dtype) * 2 + 1) / h - 1
        xs = (torch.arange(w, dtype=x.dtype) * 2 + 1) / w - 1
        base = torch.stack([xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w), torch.ones(h, w, dtype=x.dtype)], -1)
        grid = (base.view(1, h * w, 3) @ theta.transpose(1, 2)).view(-1, h, w, 2)
        return torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="border")


class AttentionCNN(nn.Module):
    """Attention model: a spatial transformer in front of a small VGG-style CNN."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.stn = SpatialTransformer()
        self.cnn = VGG(num_classes, widths=(32, 64, 128), convs_per_stage=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(self.stn(x))


@register("vgg")
def vgg(num_classes: int = 7, **kw) -> nn.Module:
    """VGG-style base model (the seeds' comparison), 8 conv layers, 32-256 channels (~1.2M parameters)."""
    return VGG(num_classes, **kw)


@register("resnet")
def resnet(num_classes: int = 7, **kw) -> nn.Module:
    """ResNet-18-style, 32-256 channels (~2.8M parameters)."""
    return ResNet(num_classes, **kw)


@register("resnet_s")
def resnet_s(num_classes: int = 7, **kw) -> nn.Module:
    """ferkit's default: a slim ResNet-18-style network sized for 48x48 and 2 CPU cores. Stride-2 stem (48 -> 24 px),
    stages of 32/64/128/160 channels at 24/12/6/3 px with 2, 2, 2 and 1 basic blocks (~1.13M parameters, 4.5 MB fp32).
    Measured on 2 cores: 4x cheaper to train than ``vgg`` (0.25 vs 1.27 s per batch of 128) at a similar parameter count."""
    return ResNet(num_classes, widths=(32, 64, 128, 160), blocks=(2, 2, 2, 1), **kw)


@register("resnet_s48")
def resnet_s48(num_classes: int = 7, **kw) -> nn.Module:
    """A tried candidate for a stronger default: ``resnet_s`` with one more stage in front that sees the full 48x48 face
    (stride-1 stem, one 16-channel basic block at 48 px), then 32/64/128/160 channels at 24/12/6/3 px with 2, 2, 2 and
    1 blocks (1.13M parameters). With the default command (40 epochs) it reached 66.70% PublicTest against 67.12% for
    ``resnet_s``, at 0.93x its float and 0.64x its int8 speed: not shipped (docs/model-comparison.md)."""
    return ResNet(num_classes, widths=(16, 32, 64, 128, 160), blocks=(1, 2, 2, 2, 1), stem_stride=1, **kw)


@register("resnet_xs")
def resnet_xs(num_classes: int = 7, **kw) -> nn.Module:
    """ferkit's lite model (shipped as int8, ``ferkit-lite``), built for ONNX Runtime's int8 kernels: the ResNet above with one basic block per stage and
    16/40/80/160 channels at 24/12/6/3 px (~0.48M parameters, ~12M multiply-adds; 0.52 MB as int8). Dense 3x3
    convolutions gain ~3.5x from int8 in ONNX Runtime on this CPU where depthwise ones gain nothing, so at int8 it
    runs ~2.5x faster than ``ferkit_lite`` at batch 64 (measured on untrained weights, 2 cores: 5,500-6,500 vs
    2,260-2,700 faces/s)."""
    return ResNet(num_classes, widths=(16, 40, 80, 160), blocks=(1, 1, 1, 1), **kw)


@register("se_resnet")
def se_resnet(num_classes: int = 7, **kw) -> nn.Module:
    """SE-ResNet: the ResNet above with squeeze-and-excitation in every block."""
    return ResNet(num_classes, se=True, **kw)


@register("stn_cnn")
def stn_cnn(num_classes: int = 7, **kw) -> nn.Module:
    """Attention model: spatial transformer + small VGG-style CNN."""
    return AttentionCNN(num_classes, **kw)
