"""Plain ResNet (He et al. 2016, torchvision's v1.5 layout) with multi-attribute heads.

State-dict keys match torchvision's ``resnet18/34/50/101`` (except ``fc``, replaced by ``heads.<name>``),
so :func:`artextract.nets.checkpoint.init_from_imagenet` loads ImageNet weights by name.
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import BLOCKS, MultiHeadNet, init_weights, make_downsample
from .registry import register_model


class ResNet(MultiHeadNet):
    """Stem (7x7/2 conv, 3x3/2 max-pool), four stages of residual blocks, global average pooling.

    Args:
        block: ``"basic"`` (ResNet-18/34) or ``"bottleneck"`` (ResNet-50/101).
        layers: blocks per stage.
        heads: ``{name: num_classes}``; ``None`` -> ``{"logits": num_classes}``; ``{}`` -> encoder only.
        width: base width (64 in the paper); stage widths are width x (1, 2, 4, 8).
        drop_rate: dropout before the heads.
        attention: ``None``, ``"se"`` or ``"eca"`` channel attention at the end of each branch.
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
        if block not in BLOCKS:
            raise ValueError(f"unknown block {block!r}; valid: {', '.join(BLOCKS)}")
        blk = BLOCKS[block]
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = width
        for i, n in enumerate(layers):
            planes = width * 2**i
            stride = 1 if i == 0 else 2
            out = planes * blk.expansion
            blocks = [
                blk(inplanes, planes, stride, make_downsample(inplanes, out, stride), attention=attention)
            ]
            blocks += [blk(out, planes, attention=attention) for _ in range(1, n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = out
        self.num_features = inplanes
        self._build_heads(heads, num_classes, drop_rate)
        init_weights(self, zero_init_residual=zero_init_residual)

    def forward_maps(self, x: Tensor) -> Tensor:
        """Last-stage maps ``[B, num_features, h, w]`` (pooled by ``forward_features``)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


#: ResNet depth -> (block, blocks per stage), as in "Deep Residual Learning" (and torchvision).
DEPTHS: dict[int, tuple[str, list[int]]] = {
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]),
}


def register_depths(prefix: str, family: str, cls: type) -> None:
    """Register ``<prefix><depth>`` for every depth in :data:`DEPTHS` as a builder of ``cls``."""
    for depth, (block, layers) in DEPTHS.items():

        def build(*, _block: str = block, _layers: list[int] = layers, **kwargs):  # noqa: ANN202
            return cls(_block, list(_layers), **kwargs)

        build.__name__ = f"{prefix}{depth}"
        build.__doc__ = f"{family} with depth {depth} ({block} blocks {layers})."
        register_model(f"{prefix}{depth}", family=family)(build)


register_depths("resnet", "resnet", ResNet)


@register_model("resnet_demo", input_size=112, family="resnet")
def resnet_demo(*, width: int = 32, **kwargs) -> ResNet:
    """ResNet-10 at half width (basic blocks [1, 1, 1, 1], 32-256 channels): trains in minutes on a CPU."""
    return ResNet("basic", [1, 1, 1, 1], width=width, **kwargs)
