"""MobileNetV2 (Sandler et al. 2018) and RLA-MobileNetV2 (Zhao, Fang & Li, NeurIPS 2021).

Parameter names follow torchvision's ``mobilenet_v2`` (``features.0`` stem ... ``features.18`` last 1x1
conv), so ImageNet weights load by name (:func:`artextract.nets.checkpoint.init_from_imagenet`).

RLA-MobileNetV2, as the paper's official ``mobilenetv2_rla.py`` defines it, runs a recurrent state ``h``
of ``k = rla_channels`` (32) channels beside the inverted-residual stream. In every block:

    e   = Expand(x)                         # 1x1 conv-BN-ReLU6 (absent when t = 1)
    z   = DW([e, h])                        # the depthwise 3x3 conv-BN-ReLU6 runs over e and h together
    y   = BN(PW([z]))                       # the linear projection reads the depthwise output of both
    x'  = x + y  if stride 1 and same width, else y
    h   = AvgPool2x2(h)  if the block downsamples
    h   = Recurrent(tanh(BN_t(h + ConvOut_s(y))))

The RLA update reads ``y``, the projection output *before* the residual add (unlike the ResNet
variants, whose in-place aliasing hands the update the block's output after add and ReLU). ``ConvOut_s``
is a 1x1 conv per stage (7 stages), ``BN_t`` one BN per block. The official code builds its recurrent
3x3 convs as ``[conv] * n`` -- one module repeated -- so a single recurrent conv is shared by every block
of the network; we follow the code as written. After the last block ``h`` goes through BN + ReLU6 and is
concatenated to ``x`` before the final 1x1 conv (320 + k -> 1280); the embedding stays 1280-d.

With ImageNet weights in every original channel and zeros in the projection's and the final conv's
columns that read ``h``, the initialised RLA-MobileNetV2 computes MobileNetV2's features exactly.
``attention="eca"`` adds ECA (Wang et al. 2020) after each block's projection BN, as ECA-MobileNetV2 does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import MultiHeadNet, init_weights, make_attention
from .registry import register_model

#: t (expansion), c (output channels), n (blocks), s (first stride) -- the paper's Table 2
SETTINGS: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor``, never more than 10% down (as the TF reference)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNReLU(nn.Sequential):
    """conv-BN-ReLU6; indices 0/1/2 as torchvision's ``Conv2dNormActivation``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear projection (1x1), with ``extra`` state channels.

    ``extra`` > 0 (RLA): the depthwise conv and the projection also run over ``extra`` channels of
    recurrent state concatenated after the expansion. ``self.conv`` is laid out as torchvision's block so
    that ImageNet weights load by name; ``forward`` with ``extra == 0`` is torchvision's block exactly.
    """

    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand_ratio: int,
        *,
        extra: int = 0,
        attention: str | None = None,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        self.extra = extra
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel_size=1))
        wide = hidden + extra
        layers += [
            ConvBNReLU(wide, wide, stride=stride, groups=wide),
            nn.Conv2d(wide, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        attn = make_attention(attention, oup)
        if attn is not None:
            layers.append(attn)
        self.conv = nn.Sequential(*layers)
        self.has_expand = expand_ratio != 1

    def branch(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        """The block's projection output ``y`` (before the residual add)."""
        mods = list(self.conv)
        if self.has_expand:
            x = mods.pop(0)(x)
        if h is not None:
            x = torch.cat([x, h], dim=1)
        for m in mods:
            x = m(x)
        return x

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        y = self.branch(x, h)
        return x + y if self.use_res_connect else y


class MobileNetV2(MultiHeadNet):
    """MobileNetV2 with multi-attribute heads (``features`` named as torchvision's, ``heads.<name>``).

    Args:
        heads: ``{name: num_classes}``; ``None`` -> ``{"logits": num_classes}``; ``{}`` -> encoder only.
        width_mult: channel multiplier (1.0 in the paper).
        drop_rate: dropout before the heads (0.2 in the paper).
        attention: ``None`` or ``"eca"`` after each block's projection.
    """

    rla_channels = 0

    def __init__(
        self,
        *,
        heads: dict[str, int] | None = None,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        drop_rate: float = 0.2,
        attention: str | None = None,
    ) -> None:
        super().__init__()
        if not 0.1 <= float(width_mult) <= 4.0:
            raise ValueError(f"width_mult must be in [0.1, 4], got {width_mult}")
        k = self.rla_channels
        inp = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        feats: list[nn.Module] = [ConvBNReLU(3, inp, stride=2)]
        self.stage_of: list[int] = []  # stage index of each block
        self.stage_channels: list[int] = []
        for s, (t, c, n, stride) in enumerate(SETTINGS):
            oup = make_divisible(c * width_mult)
            for i in range(n):
                feats.append(
                    InvertedResidual(inp, oup, stride if i == 0 else 1, t, extra=k, attention=attention)
                )
                self.stage_of.append(s)
                inp = oup
            self.stage_channels.append(oup)
        feats.append(ConvBNReLU(inp + k, last, kernel_size=1))
        self.features = nn.ModuleList(feats)
        self.num_features = last
        self._build_heads(heads, num_classes, drop_rate)
        init_weights(self)  # He-normal convs, unit BN, N(0, 0.01) heads, as the official code

    def blocks(self) -> list[InvertedResidual]:
        return list(self.features)[1:-1]  # type: ignore[return-value]

    def forward_maps(self, x: Tensor) -> Tensor:
        """The final 1x1 conv's 1280 maps (torchvision's ``features``); pooled by ``forward_features``."""
        x = self.features[0](x)
        for blk in self.blocks():
            x = blk(x)
        return self.features[-1](x)


class RLAMobileNetV2(MobileNetV2):
    """RLA-MobileNetV2 (see the module docstring): MobileNetV2 plus a ``rla_channels``-channel state."""

    def __init__(self, *, rla_channels: int = 32, **kwargs) -> None:
        if rla_channels < 1:
            raise ValueError(f"rla_channels must be >= 1, got {rla_channels}")
        self.rla_channels = rla_channels  # read by MobileNetV2.__init__ (class default 0)
        super().__init__(**kwargs)
        k = rla_channels
        n_per_stage = [sum(1 for s in self.stage_of if s == i) for i in range(len(SETTINGS))]
        self.rla_conv_out = nn.ModuleList(nn.Conv2d(c, k, 1, bias=False) for c in self.stage_channels)
        self.rla_bns = nn.ModuleList(nn.ModuleList(nn.BatchNorm2d(k) for _ in range(n)) for n in n_per_stage)
        self.rla_recurrent = nn.Conv2d(k, k, 3, padding=1, bias=False)  # shared, as the official code
        self.rla_norm = nn.BatchNorm2d(k)
        for m in (*self.rla_conv_out, self.rla_recurrent):
            if not m.weight.is_meta:  # see layers.init_weights
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward_maps(self, x: Tensor) -> Tensor:
        x = self.features[0](x)
        b, _, hh, ww = x.shape
        h = x.new_zeros(b, self.rla_channels, hh, ww)
        if x.is_contiguous(memory_format=torch.channels_last):
            h = h.contiguous(memory_format=torch.channels_last)
        t = 0
        prev = -1
        for blk, s in zip(self.blocks(), self.stage_of, strict=True):
            t = t + 1 if s == prev else 0
            prev = s
            y = blk.branch(x, h)
            x = x + y if blk.use_res_connect else y
            if blk.stride != 1:
                h = F.avg_pool2d(h, kernel_size=2, stride=2, ceil_mode=True)
            h = self.rla_recurrent(torch.tanh(self.rla_bns[s][t](h + self.rla_conv_out[s](y))))
        h = F.relu6(self.rla_norm(h))
        return self.features[-1](torch.cat([x, h], dim=1))


@register_model("mobilenetv2", input_size=224, family="mobilenetv2")
def mobilenetv2(**kwargs) -> MobileNetV2:
    """MobileNetV2 1.0 (3.5M parameters with the 1000-class head), torchvision-compatible names."""
    return MobileNetV2(**kwargs)


@register_model("rla_mobilenetv2", input_size=224, family="rla_mobilenetv2")
def rla_mobilenetv2(*, rla_channels: int = 32, **kwargs) -> RLAMobileNetV2:
    """RLA-MobileNetV2, k = 32 (the paper's model)."""
    return RLAMobileNetV2(rla_channels=rla_channels, **kwargs)


@register_model("rla_mobilenetv2_eca", input_size=224, family="rla_mobilenetv2")
def rla_mobilenetv2_eca(*, rla_channels: int = 32, attention: str | None = "eca", **kwargs) -> RLAMobileNetV2:
    """RLA-MobileNetV2 with ECA after each block's projection (RLA-ECA-MobileNetV2), k = 32."""
    return RLAMobileNetV2(rla_channels=rla_channels, attention=attention, **kwargs)
