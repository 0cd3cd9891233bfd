"""Why the classifier said what it said: Grad-CAM (Selvaraju et al., ICCV 2017) on the last stage.

For a class ``c`` of a head, the last stage's activation maps ``A_k`` (``model.forward_maps``: for
(RLA-)MobileNetV2 the final 1x1 conv's 1280 maps, for (RLA-)ResNet the last stage joined with the RLA state) are weighted by the spatial mean of
the gradient of the class logit, ``w_k = mean(d y_c / d A_k)``, summed and rectified:
``cam = relu(sum_k w_k A_k)``, then scaled to [0, 1]. The map covers what the network sees: the centre
crop of the painting at the checkpoint's input size (:meth:`Embedder.preprocess`), so the overlay is drawn
on that crop. One forward pass serves every class asked for (one backward pass each).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .errors import ArtExtractError


def grad_cam(
    embedder, img: Image.Image, head: str, classes: Sequence[int], *, raw: bool = False
) -> dict[int, np.ndarray]:
    """``{class index: [h, w] float32 map in [0, 1]}`` for the ``head`` logits of ``embedder``'s model.

    ``raw``: the weighted sum before rectifying and scaling (its sum is the class logit minus the head's
    bias: with global average pooling and a linear head, Grad-CAM is exactly CAM)."""
    model = embedder.model
    heads = getattr(model, "heads", {})
    if head not in heads:
        raise ArtExtractError(f"the classifier has no {head!r} head; it has {', '.join(heads) or 'none'}")
    n_classes = heads[head].out_features
    for c in classes:
        if not 0 <= int(c) < n_classes:
            raise ArtExtractError(f"class {c} is not one of the {n_classes} {head} classes")
    if not hasattr(model, "forward_maps"):
        raise ArtExtractError(f"{type(model).__name__} does not expose its activation maps")
    x = embedder.preprocess(img)[None].contiguous(memory_format=torch.channels_last)
    wanted = list(dict.fromkeys(int(c) for c in classes))
    out: dict[int, np.ndarray] = {}
    bf16 = embedder.precision == "bf16"
    with torch.enable_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        maps = model.forward_maps(x)
        logits = model.forward_head(maps.mean(dim=(2, 3)))[head][0]
        for i, c in enumerate(wanted):
            (grad,) = torch.autograd.grad(logits[c], maps, retain_graph=i < len(wanted) - 1)
            w = grad.float().mean(dim=(2, 3), keepdim=True)
            cam = (w * maps.detach().float()).sum(1)[0]
            if raw:
                out[c] = cam.numpy().astype(np.float32)
                continue
            cam = torch.relu(cam)
            top = float(cam.max())
            out[c] = (cam / top if top > 0 else cam).numpy().astype(np.float32)
    return out


def _heat_colours(v: np.ndarray) -> np.ndarray:
    """[0, 1] -> RGB uint8 on a dark-blue, red, yellow ramp (readable over most paintings)."""
    stops = np.array([0.0, 0.35, 0.7, 1.0])
    rgb = np.array([[20, 20, 120], [180, 30, 60], [250, 150, 20], [255, 255, 160]], dtype=np.float32)
    return np.stack([np.interp(v, stops, rgb[:, j]) for j in range(3)], axis=-1).astype(np.uint8)


def overlay(embedder, img: Image.Image, cam: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The crop the network saw, with ``cam`` (upsampled bilinearly) blended over it."""
    base = embedder._resize_crop(img)  # uint8 HWC, the network's view
    h, w = base.shape[:2]
    heat = Image.fromarray((np.clip(cam, 0, 1) * 255).astype(np.uint8)).resize(
        (w, h), Image.Resampling.BILINEAR
    )
    colours = _heat_colours(np.asarray(heat, np.float32) / 255)
    weight = alpha * (np.asarray(heat, np.float32)[..., None] / 255) ** 0.5  # cold areas stay visible
    mixed = base.astype(np.float32) * (1 - weight) + colours.astype(np.float32) * weight
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8))


__all__ = ["grad_cam", "overlay"]
