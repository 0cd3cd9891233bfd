"""One registry of architectures: every model is declared once, as data, and built by name.

>>> model = create_model("rla_resnet50", heads={"style": 27, "artist": 23, "genre": 10})

``register_model`` records a factory with its default input size, normalisation and family;
``create_model`` builds it (an unknown name raises :class:`UnknownNameError` listing the valid ones);
``model_info`` reports those defaults plus the parameter count of the default 1000-class model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import UnknownNameError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about an architecture without building it."""

    name: str
    factory: Callable[..., nn.Module]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    family: str


_REGISTRY: dict[str, ModelSpec] = {}
_PARAM_CACHE: dict[str, int] = {}


def register_model(
    name: str,
    *,
    input_size: int = 224,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    family: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``factory(**kwargs) -> nn.Module`` under ``name``."""

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(name, factory, int(input_size), tuple(mean), tuple(std), family)
        return factory

    return deco


def _ensure_builtin() -> None:
    """Import the modules whose decorators fill the registry (on first use, not at package import)."""
    from . import ensemble, mobilenet, resnet, rla_resnet  # noqa: F401


def _spec(name: str) -> ModelSpec:
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model architecture {name!r}; valid names: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_models() -> list[str]:
    """Registered architecture names, sorted."""
    _ensure_builtin()
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture; ``kwargs`` go to its factory (``heads``, ``width``, ...)."""
    spec = _spec(name)
    try:
        model = spec.factory(**kwargs)
    except TypeError as exc:  # an unexpected keyword: say which ones the factory takes
        raise TypeError(f"create_model({name!r}): {exc}") from exc
    # remembered so a checkpoint card can be completed from the model itself
    model.arch_name = name
    model.arch_kwargs = {k: v for k, v in kwargs.items() if k not in ("heads", "num_classes")}
    return model


def model_info(name: str) -> dict[str, Any]:
    """Defaults of ``name``: input_size, mean, std, family and params of the 1000-class model."""
    spec = _spec(name)
    if name not in _PARAM_CACHE:
        import torch

        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = spec.factory()
        _PARAM_CACHE[name] = sum(p.numel() for p in model.parameters())
    return {
        "input_size": spec.input_size,
        "mean": list(spec.mean),
        "std": list(spec.std),
        "family": spec.family,
        "params": _PARAM_CACHE[name],
    }
