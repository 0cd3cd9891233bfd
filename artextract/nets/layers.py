"""Building blocks shared by the ResNet family: residual blocks, channel attention, multi-attribute heads.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ..., ``downsample.0``/``.1``) so ImageNet
weights map onto our models by name.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

ATTENTIONS = ("se", "eca")


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


# ------------------------------------------------------------------------------------------- attention
class SELayer(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from a bottleneck MLP, reduction 16."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        w = self.fc(x.mean(dim=(2, 3)))
        return x * w[:, :, None, None]


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel size: the odd number nearest (log2(C) + b) / gamma (5 for 256-1024, 7 for 2048)."""
    k = int(abs((math.log2(channels) + b) / gamma))
    return k if k % 2 else k + 1


class ECALayer(nn.Module):
    """Efficient channel attention (Wang et al. 2020): a 1-D conv across pooled channels, no reduction."""

    def __init__(self, channels: int, k_size: int | None = None) -> None:
        super().__init__()
        k = k_size or eca_kernel_size(channels)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = x.mean(dim=(2, 3))[:, None, :]  # [B, 1, C]
        w = torch.sigmoid(self.conv(y))[:, 0, :]
        return x * w[:, :, None, None]


def make_attention(kind: str | None, channels: int) -> nn.Module | None:
    if kind is None or kind == "none":
        return None
    if kind == "se":
        return SELayer(channels)
    if kind == "eca":
        return ECALayer(channels)
    raise ValueError(f"unknown attention {kind!r}; valid: None, {', '.join(ATTENTIONS)}")


# -------------------------------------------------------------------------------------- residual blocks
class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34). ``extra_in`` extra input channels feed conv1 only (RLA's state)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        extra_in: int = 0,
        attention: str | None = None,
    ) -> None:
        super().__init__()
        out = self._build_branch(inplanes + extra_in, planes, stride)
        self.attn = make_attention(attention, out)
        self.downsample = downsample
        self.stride = stride

    def _build_branch(self, in_ch: int, planes: int, stride: int) -> int:
        """Create the branch's convs, BNs and ReLU (in torchvision's order); returns its output channels."""
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        return planes

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def branch(self, x: Tensor) -> Tensor:
        """The residual branch, before the shortcut is added (RLA reads this output)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.attn is not None:
            out = self.attn(out)
        return out

    def shortcut(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class Bottleneck(BasicBlock):
    """1x1 -> 3x3 (stride here, as torchvision's ResNet v1.5) -> 1x1 x4 (ResNet-50/101)."""

    expansion = 4

    def _build_branch(self, in_ch: int, planes: int, stride: int) -> int:
        out = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        return out

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def branch(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attn is not None:
            out = self.attn(out)
        return out


BLOCKS: dict[str, type[BasicBlock]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def block_type(block: str) -> type[BasicBlock]:
    """The residual block class named ``block`` (a key of :data:`BLOCKS`)."""
    if block not in BLOCKS:
        raise ValueError(f"unknown block {block!r}; valid: {', '.join(BLOCKS)}")
    return BLOCKS[block]


def make_downsample(inplanes: int, out: int, stride: int) -> nn.Module | None:
    if stride == 1 and inplanes == out:
        return None
    return nn.Sequential(conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))


def make_stages(
    blk: type[BasicBlock], layers: list[int], width: int, **block_kwargs: Any
) -> Iterator[tuple[list[BasicBlock], int]]:
    """ResNet's stages, one at a time: each stage's blocks and their output channels.

    Stage ``i`` has ``width * 2**i`` planes and ``layers[i]`` blocks; every stage but the first halves
    the resolution in its first block, which also gets the projection shortcut where shapes change.
    ``block_kwargs`` go to every block. Lazy, so a caller may build its own modules between stages.
    """
    inplanes = width
    for i, n in enumerate(layers):
        planes = width * 2**i
        stride = 1 if i == 0 else 2
        out = planes * blk.expansion
        blocks = [blk(inplanes, planes, stride, make_downsample(inplanes, out, stride), **block_kwargs)]
        blocks += [blk(out, planes, **block_kwargs) for _ in range(1, n)]
        yield blocks, out
        inplanes = out


def is_meta(model: nn.Module) -> bool:
    """True when ``model``'s parameters are on the meta device (shapes, no values)."""
    return any(p.is_meta for p in model.parameters())


def init_weights(model: nn.Module, *, zero_init_residual: bool = False) -> None:
    """He-normal convs, unit BN; optionally zero the last BN of each branch (Goyal et al. 2017).

    Nothing to do for a model built on the meta device (shapes only, as a checkpoint's card is checked
    against its weights): random draws there hold no values, and torch runs them through Python, slowly
    (a fresh process loaded the released ensemble 6x slower with them: bench/checkpoint_load.py)."""
    if is_meta(model):
        return
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.last_bn().weight)


# ---------------------------------------------------------------------------------------------- heads
class MultiHeadNet(nn.Module):
    """Base of every backbone here: pooled features, then one linear head per attribute.

    Subclasses set ``self.num_features`` and implement ``forward_maps(x) -> [B, num_features, h, w]``.
    ``heads={}`` gives a headless encoder (``forward`` then returns an empty dict).
    """

    num_features: int

    def _build_heads(self, heads: dict[str, int] | None, num_classes: int, drop_rate: float) -> None:
        if heads is None:
            heads = {"logits": num_classes} if num_classes > 0 else {}
        for name, n in heads.items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"head {name!r} needs a positive class count, got {n!r}")
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.heads = nn.ModuleDict({name: nn.Linear(self.num_features, n) for name, n in heads.items()})

    @property
    def head_names(self) -> list[str]:
        return list(self.heads.keys())

    def forward_maps(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The last stage's activation maps ``[B, num_features, h, w]`` (what Grad-CAM weighs)."""
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled pre-logit embedding ``[B, num_features]``: the maps, globally averaged."""
        return self.forward_maps(x).mean(dim=(2, 3))

    def forward_head(self, feats: Tensor) -> dict[str, Tensor]:
        """Logits per head from pooled features ``[B, num_features]``."""
        feats = self.drop(feats)
        return {name: head(feats) for name, head in self.heads.items()}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.forward_head(self.forward_features(x))


class ResNetBase(MultiHeadNet):
    """Base of ResNet and RLA-ResNet: torchvision's stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), the
    stages a subclass builds (:meth:`_build_stages`), global average pooling and the heads.

    Args:
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50/101).
        layers: blocks per stage.
        heads: ``{name: num_classes}``; ``None`` -> ``{"logits": num_classes}``; ``{}`` -> encoder only.
        width: base width (64 in the paper); stage widths are width x (1, 2, 4, 8).
        drop_rate: dropout before the heads.
        attention: ``None``, ``"se"`` or ``"eca"`` channel attention at the end of each branch.
        zero_init_residual: start each residual branch's last BN at zero.
    """

    def __init__(
        self,
        block: str,
        layers: list[int],
        *,
        heads: dict[str, int] | None = None,
        num_classes: int = 1000,
        width: int = 64,
        drop_rate: float = 0.0,
        attention: str | None = None,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self._build_stem(width)
        self.num_features = self._build_stages(block_type(block), layers, width, attention)
        self._build_heads(heads, num_classes, drop_rate)
        init_weights(self, zero_init_residual=zero_init_residual)

    def _build_stages(
        self, blk: type[nn.Module], layers: list[int], width: int, attention: str | None
    ) -> int:
        """Add the stages as ``layer1..N``; returns the channels :meth:`forward_maps` gives."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _build_stem(self, width: int) -> None:
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def stem(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))
