"""RLA-ResNet: ResNet with recurrent layer aggregation (Zhao, Fang & Li, NeurIPS 2021).

A small recurrent state ``h`` of ``k = rla_channels`` (32 in the paper) channels runs alongside the
residual stream. At every residual block ``t`` of a stage:

    y_t = Branch_t([x_{t-1}, h_{t-1}])          # the block's first conv reads the state (concatenated)
    x_t = ReLU(y_t + shortcut(x_{t-1}))
    h_t = g(h_{t-1}, conv_out(x_t))             # the state reads the block's output (after add + ReLU)

with ``conv_out`` a 1x1 conv per stage and ``g`` one of

- ``"rla"`` (the paper's base module): ``h = conv3x3(tanh(BN_t(h + conv_out(y))))``; the 3x3 recurrent
  conv is shared by every block of the stage, BN_t is per block;
- ``"gru"``: ``h = ConvGRU(tanh(BN_t(conv_out(x_t))), h)`` (reference code, GroupNorm-ed gates);
- ``"lstm"``: ``(h, c) = ConvLSTM(tanh(BN_t(conv_out(x_t))), (h, c))``.

Where a block downsamples, the state is average-pooled 2x2 to follow it. After the last stage the state
(for ``"rla"`` after BN + ReLU) is concatenated to the final feature map before global pooling, so the
embedding has ``512 * expansion * width / 64 + k`` dimensions. The state is created with the input's
device, dtype and memory format: the model runs on CPU, GPU, bf16 and channels_last alike.

As in the official ``resnet_rla.py`` (where ``y = out; out += identity; relu(out)`` aliases ``y`` to the
block's output), the update reads ``x_t`` after the residual add and ReLU; and, as there by default, the
last BN of every residual branch starts at zero (``zero_init_residual=True``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ResNetBase, conv1x1, conv3x3, make_stages
from .registry import register_model
from .resnet import register_depths

RLA_TYPES = ("rla", "gru", "lstm")


class ConvGRUCell(nn.Module):
    """Convolutional GRU (as in the RLA reference code): GroupNorm on gates and candidate."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.gate_conv = nn.Conv2d(2 * channels, 2 * channels, kernel_size, padding=pad)
        self.reset_norm = nn.GroupNorm(1, channels, eps=1e-6)
        self.update_norm = nn.GroupNorm(1, channels, eps=1e-6)
        self.out_conv = nn.Conv2d(2 * channels, channels, kernel_size, padding=pad)
        self.out_norm = nn.GroupNorm(1, channels, eps=1e-6)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        r, u = self.gate_conv(torch.cat([x, h], dim=1)).chunk(2, dim=1)
        r = torch.sigmoid(self.reset_norm(r))
        u = torch.sigmoid(self.update_norm(u))
        cand = torch.tanh(self.out_norm(self.out_conv(torch.cat([x, r * h], dim=1))))
        return u * h + (1 - u) * cand


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM (Shi et al. 2015), one conv producing the four gates, no bias."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 4 * channels, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        i, f, o, g = self.conv(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class RLAUpdate(nn.Module):
    """The per-stage RLA module: ``conv_out`` (1x1), per-block BNs and the shared recurrent cell."""

    def __init__(self, block_out: int, channels: int, num_blocks: int, rla_type: str) -> None:
        super().__init__()
        self.rla_type = rla_type
        self.conv_out = conv1x1(block_out, channels)
        self.bns = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_blocks))
        if rla_type == "rla":
            self.recurrent: nn.Module = conv3x3(channels, channels)
        elif rla_type == "gru":
            self.recurrent = ConvGRUCell(channels)
        else:
            self.recurrent = ConvLSTMCell(channels)

    def forward(self, t: int, y: Tensor, h: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        y = self.conv_out(y)
        if self.rla_type == "rla":
            return self.recurrent(torch.tanh(self.bns[t](h + y))), None
        y = torch.tanh(self.bns[t](y))
        if self.rla_type == "gru":
            return self.recurrent(y, h), None
        return self.recurrent(y, (h, c))


def _pool_state(t: Tensor) -> Tensor:
    # 2x2 average pooling as in the reference; ceil_mode keeps it in step with the stride-2 convs when a
    # feature map has an odd size (e.g. 7 -> 4 at 112 px), which the reference's floor pooling does not.
    return F.avg_pool2d(t, kernel_size=2, stride=2, ceil_mode=True)


class RLAResNet(ResNetBase):
    """ResNet backbone with an RLA state of ``rla_channels`` channels (see the module docstring).

    Args:
        rla_channels: k, the channels of the recurrent state (32 in the paper).
        rla_type: ``"rla"`` (paper), ``"gru"`` or ``"lstm"``.
        zero_init_residual: on by default, as in the official code.
        **kwargs: as :class:`~artextract.nets.layers.ResNetBase` (``attention`` gives RLA-ResNet-SE /
            -ECA of the paper).
    """

    def __init__(
        self, block: str, layers: list[int], *, rla_channels: int = 32, rla_type: str = "rla",
        zero_init_residual: bool = True, **kwargs: Any,
    ) -> None:  # fmt: skip
        if rla_type not in RLA_TYPES:
            raise ValueError(f"unknown rla_type {rla_type!r}; valid: {', '.join(RLA_TYPES)}")
        if rla_channels < 1:
            raise ValueError(f"rla_channels must be >= 1, got {rla_channels}")
        self._rla = (rla_channels, rla_type)  # read by _build_stages, before nn.Module attributes exist
        super().__init__(block, layers, zero_init_residual=zero_init_residual, **kwargs)

    def _build_stages(
        self, blk: type[nn.Module], layers: list[int], width: int, attention: str | None
    ) -> int:
        rla_channels, rla_type = self._rla
        self.rla_channels = rla_channels
        self.rla_type = rla_type
        out = width
        rla = []
        stage_blocks = make_stages(blk, layers, width, extra_in=rla_channels, attention=attention)
        for i, (blocks, out) in enumerate(stage_blocks):
            self.add_module(f"layer{i + 1}", nn.ModuleList(blocks))
            rla.append(RLAUpdate(out, rla_channels, len(blocks), rla_type))
        self.rla = nn.ModuleList(rla)
        # the paper's base RLA normalises the final state before joining it to the features
        self.rla_norm = nn.BatchNorm2d(rla_channels) if rla_type == "rla" else None
        self.num_stages = len(layers)
        return out + rla_channels

    def stages(self) -> list[nn.ModuleList]:
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def forward_maps(self, x: Tensor) -> Tensor:
        """Last-stage maps joined with the RLA state ``[B, C_last + rla_channels, h, w]``."""
        x = self.stem(x)
        b, _, hh, ww = x.shape
        fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
        h = x.new_zeros(b, self.rla_channels, hh, ww)
        if fmt is not None:
            h = h.contiguous(memory_format=fmt)
        c = torch.zeros_like(h) if self.rla_type == "lstm" else None
        for blocks, update in zip(self.stages(), self.rla, strict=True):
            for t, blk in enumerate(blocks):
                x = blk.relu(blk.branch(torch.cat([x, h], dim=1)) + blk.shortcut(x))
                if blk.stride != 1:
                    h = _pool_state(h)
                    c = _pool_state(c) if c is not None else None
                h, c = update(t, x, h, c)  # the block's output, after the add and ReLU (official code)
        if self.rla_norm is not None:
            h = self.relu(self.rla_norm(h))
        return torch.cat([x, h], dim=1)


register_depths("rla_resnet", "rla_resnet", RLAResNet)


@register_model("rla_resnet_demo", input_size=112, family="rla_resnet")
def rla_resnet_demo(*, width: int = 32, rla_channels: int = 16, **kwargs) -> RLAResNet:
    """RLA-ResNet-10 at half width (basic blocks [1, 1, 1, 1], k=16): trains in minutes on a CPU."""
    return RLAResNet("basic", [1, 1, 1, 1], width=width, rla_channels=rla_channels, **kwargs)
