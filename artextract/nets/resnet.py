"""Plain ResNet (He et al. 2016, torchvision's v1.5 layout) with multi-attribute heads.

State-dict keys match torchvision's ``resnet18/34/50/101`` (except ``fc``, replaced by ``heads.<name>``),
so :func:`artextract.nets.checkpoint.init_from_imagenet` loads ImageNet weights by name.
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import ResNetBase, make_stages
from .registry import register_model


class ResNet(ResNetBase):
    """Stem (7x7/2 conv, 3x3/2 max-pool), four stages of residual blocks, global average pooling
    (arguments: :class:`~artextract.nets.layers.ResNetBase`)."""

    def _build_stages(
        self, blk: type[nn.Module], layers: list[int], width: int, attention: str | None
    ) -> int:
        widths = [width]
        for i, (blocks, out) in enumerate(make_stages(blk, layers, width, attention=attention)):
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            widths.append(out)
        return widths[-1]

    def forward_maps(self, x: Tensor) -> Tensor:
        """Last-stage maps ``[B, num_features, h, w]`` (pooled by ``forward_features``)."""
        x = self.stem(x)
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
