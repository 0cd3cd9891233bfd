"""An ensemble of classifiers that share their heads, as one model (and one checkpoint).

Two networks trained alike but apart make different mistakes; averaging their logits fixes some of them.
:class:`Ensemble` keeps every interface of a single backbone, so the Embedder, ONNX export, Grad-CAM,
the open-set gate and the checkpoint loader take it unchanged:

- ``forward_features``: the members' pooled features side by side (``num_features`` = their sum), the
  embedding an ensemble gives Similar, Explore and the open-set gate;
- ``forward_head``: each member's heads on its own slice of those features, logits averaged;
- ``forward_maps``: the members' last activation maps stacked along channels (when their grids agree),
  so Grad-CAM weighs every member's maps by the gradient of the averaged logit.

The card's ``arch_kwargs`` say ``{"members": [{"arch": ..., "arch_kwargs": {...}}, ...]}``; members are
built from the same registry (never another ensemble), with the card's heads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .checkpoint import MAX_MEMBERS  # one limit, checked on the card and here
from .layers import MultiHeadNet
from .registry import create_model, register_model

_MEMBER_KEYS = {"arch", "arch_kwargs"}


def _member_spec(spec: Any, i: int) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, dict) or "arch" not in spec or set(spec) - _MEMBER_KEYS:
        raise ValueError(
            f"ensemble member {i} must be {{'arch': name, 'arch_kwargs': {{...}}}}, got {spec!r}"
        )
    arch, kwargs = spec["arch"], spec.get("arch_kwargs") or {}
    if not isinstance(arch, str) or not isinstance(kwargs, dict):
        raise ValueError(f"ensemble member {i}: arch must be a name and arch_kwargs a mapping")
    if arch == "ensemble":
        raise ValueError(f"ensemble member {i} is an ensemble: members must be single networks")
    bad = {"heads", "num_classes", "members"} & set(kwargs)
    if bad:
        raise ValueError(f"ensemble member {i}: arch_kwargs may not set {sorted(bad)}")
    return arch, dict(kwargs)


class Ensemble(MultiHeadNet):
    """Members with the same heads; features side by side, logits averaged (see the module docstring).

    Args:
        members: 2 to 4 ``{"arch": name, "arch_kwargs": {...}}`` specs, the first the primary.
        heads: ``{name: num_classes}``, given to every member.
    """

    def __init__(self, *, members: list[dict[str, Any]] | None = None, heads: dict[str, int] | None = None):
        super().__init__()
        if not isinstance(members, (list, tuple)) or not 2 <= len(members) <= MAX_MEMBERS:
            raise ValueError(f"an ensemble needs 2 to {MAX_MEMBERS} members, got {members!r}")
        if not heads:
            raise ValueError("an ensemble needs the heads its members share")
        specs = [_member_spec(m, i) for i, m in enumerate(members)]
        self.members = nn.ModuleList(create_model(a, **kw, heads=dict(heads)) for a, kw in specs)
        self.dims = [int(m.num_features) for m in self.members]
        self.num_features = sum(self.dims)

    @property
    def heads(self) -> nn.ModuleDict:  # type: ignore[override]
        """The primary member's heads (names and class counts; every member has the same)."""
        return self.members[0].heads

    def forward_features(self, x: Tensor) -> Tensor:
        return torch.cat([m.forward_features(x) for m in self.members], dim=1)

    def forward_maps(self, x: Tensor) -> Tensor:
        maps = [m.forward_maps(x) for m in self.members]
        if len({tuple(m.shape[2:]) for m in maps}) != 1:
            raise ValueError(f"ensemble members' maps differ in size: {[tuple(m.shape[2:]) for m in maps]}")
        return torch.cat(maps, dim=1)

    def forward_head(self, feats: Tensor) -> dict[str, Tensor]:
        parts = torch.split(feats, self.dims, dim=1)
        outs = [m.forward_head(p) for m, p in zip(self.members, parts, strict=True)]
        return {h: torch.stack([o[h] for o in outs]).mean(dim=0) for h in outs[0]}


#: the default pair: the released classifier's (RLA-MobileNetV2 and plain MobileNetV2, dropout 0.2)
DEFAULT_MEMBERS = (
    {"arch": "rla_mobilenetv2", "arch_kwargs": {"drop_rate": 0.2}},
    {"arch": "mobilenetv2", "arch_kwargs": {"drop_rate": 0.2}},
)


@register_model("ensemble", input_size=160, family="ensemble")
def ensemble(
    *,
    members: list[dict[str, Any]] | None = None,
    heads: dict[str, int] | None = None,
    num_classes: int = 1000,
) -> Ensemble:
    """Logit-averaging ensemble of registered single networks (``members``, default: RLA-MobileNetV2 and
    MobileNetV2) sharing ``heads`` (default: one ``num_classes`` head)."""
    members = [dict(m) for m in DEFAULT_MEMBERS] if members is None else members
    return Ensemble(members=members, heads={"logits": num_classes} if heads is None else heads)
