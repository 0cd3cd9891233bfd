"""BYOL: Bootstrap Your Own Latent (Grill et al., NeurIPS 2020), for any registered backbone.

An online network (encoder -> projector -> predictor) learns to predict, from one augmented view, the
target network's projection of another view of the same image. The target (encoder -> projector) is
not trained by gradients: after every optimiser step it moves towards the online weights as an
exponential moving average whose rate tau follows a cosine schedule from ``tau_base`` (0.996) to 1.
After training, ``byol.encoder`` alone is exported for embedding (a headless backbone).

Ordered bottom-up: loss, augmentations, EMA schedule, MLP, the BYOL module.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import IMAGENET_MEAN, IMAGENET_STD


# ---------------------------------------------------------------------------------------------- loss
def regression_loss(p: Tensor, z: Tensor) -> Tensor:
    """BYOL's normalised MSE per sample: ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)``."""
    p = F.normalize(p.float(), dim=-1)
    z = F.normalize(z.float(), dim=-1)
    return 2 - 2 * (p * z).sum(dim=-1)


# ------------------------------------------------------------------------------------- augmentations
class _PerImage:
    """Apply a torchvision v2 pipeline to one image ``[C, H, W]`` or independently to each of a batch."""

    def __init__(self, pipeline: Callable[[Tensor], Tensor]) -> None:
        self.pipeline = pipeline

    def __call__(self, x: Tensor) -> Tensor:
        if x.ndim == 4:
            return torch.stack([self.pipeline(img) for img in x])
        if x.ndim == 3:
            return self.pipeline(x)
        raise ValueError(f"expected an image [C, H, W] or a batch [B, C, H, W], got shape {tuple(x.shape)}")

    def __repr__(self) -> str:
        return f"PerImage({self.pipeline!r})"


def byol_augmentations(
    image_size: int,
    *,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    min_scale: float = 0.08,
) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """The paper's two asymmetric view pipelines (Table 6), as normalised float32 tensors.

    Both: random resized crop (scale ``min_scale``-1) to ``image_size``, horizontal flip p=0.5, colour
    jitter (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1) p=0.8, grayscale p=0.2. Gaussian blur
    (kernel ~10% of the image, sigma 0.1-2.0) p=1.0 for the first view, 0.1 for the second; solarisation
    p=0.0 / 0.2. Input: uint8 or float ([0, 1]) tensors ``[C, H, W]`` or batches (each image its own draw).
    """
    from torchvision.transforms import v2

    kernel = max(3, int(0.1 * image_size) // 2 * 2 + 1)

    def pipeline(blur_p: float, solarize_p: float) -> Callable[[Tensor], Tensor]:
        steps = [
            v2.ToDtype(torch.float32, scale=True),
            v2.RandomResizedCrop(image_size, scale=(min_scale, 1.0), antialias=True),
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
        ]
        if blur_p > 0:
            steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p))
        if solarize_p > 0:
            steps.append(v2.RandomSolarize(threshold=0.5, p=solarize_p))
        steps.append(v2.Normalize(mean=list(mean), std=list(std)))
        return _PerImage(v2.Compose(steps))

    return pipeline(1.0, 0.0), pipeline(0.1, 0.2)


# ---------------------------------------------------------------------------------------- EMA schedule
def cosine_tau(step: int, total_steps: int, tau_base: float = 0.996) -> float:
    """``tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2``: tau_base at step 0, 1 at the end."""
    k = min(max(step, 0), max(total_steps, 1))
    return 1 - (1 - tau_base) * (math.cos(math.pi * k / max(total_steps, 1)) + 1) / 2


# ------------------------------------------------------------------------------------------------ MLP
def mlp(dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Projector / predictor: Linear -> BatchNorm -> ReLU -> Linear (4096 -> 256 in the paper)."""
    return nn.Sequential(
        nn.Linear(dim, hidden_dim),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


# ----------------------------------------------------------------------------------------------- BYOL
class BYOL(nn.Module):
    """BYOL around ``encoder`` (a backbone with ``forward_features``, e.g. ``create_model(..., heads={})``).

    Args:
        encoder: the online encoder; ``byol.encoder`` is the network to export after training.
        feature_dim: the encoder's embedding size (``encoder.num_features``).
        projection_dim: projector/predictor output size (256).
        hidden_dim: projector/predictor hidden size (4096; smaller for tiny demo models).
        tau_base: initial EMA rate of the target network (0.996).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        feature_dim: int,
        projection_dim: int = 256,
        hidden_dim: int = 4096,
        tau_base: float = 0.996,
    ) -> None:
        super().__init__()
        if not 0.0 <= tau_base <= 1.0:
            raise ValueError(f"tau_base must be in [0, 1], got {tau_base}")
        self.encoder = encoder
        self.projector = mlp(feature_dim, hidden_dim, projection_dim)
        self.predictor = mlp(projection_dim, hidden_dim, projection_dim)
        self.target_encoder = copy.deepcopy(encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self._target_params():
            p.requires_grad_(False)
        self.tau_base = tau_base
        self.current_tau = tau_base

    def _target_params(self) -> list[nn.Parameter]:
        return [*self.target_encoder.parameters(), *self.target_projector.parameters()]

    def _online_params(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.projector.parameters()]

    def _features(self, encoder: nn.Module, x: Tensor) -> Tensor:
        fn = getattr(encoder, "forward_features", None)
        return fn(x) if fn is not None else encoder(x)

    def online_parameters(self) -> list[nn.Parameter]:
        """What the optimiser trains: encoder, projector and predictor (never the target)."""
        return [*self._online_params(), *self.predictor.parameters()]

    def forward(self, view1: Tensor, view2: Tensor) -> Tensor:
        """Symmetric loss: each view's online prediction regresses the other view's target projection."""
        views = torch.cat([view1, view2])  # one pass: both views share BN statistics, as in the paper
        p1, p2 = self.predictor(self.projector(self._features(self.encoder, views))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projector(self._features(self.target_encoder, views)).detach().chunk(2)
        return (regression_loss(p1, z2) + regression_loss(p2, z1)).mean()

    @torch.no_grad()
    def update_target(self, step: int, total_steps: int) -> float:
        """EMA step after the optimiser step ``step`` of ``total_steps``; returns the tau used."""
        tau = cosine_tau(step, total_steps, self.tau_base)
        self.current_tau = tau
        tgt, onl = self._target_params(), self._online_params()
        torch._foreach_mul_(tgt, tau)
        torch._foreach_add_(tgt, [p.detach() for p in onl], alpha=1 - tau)
        return tau
