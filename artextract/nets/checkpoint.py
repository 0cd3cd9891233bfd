"""Released checkpoints that cannot run code: ``model.safetensors`` + ``card.json``.

The card says everything needed to rebuild the model and read its outputs (architecture and its keyword
arguments, head vocabularies, input size, normalisation, embedding size, weights hash; the trainer adds
metrics and training-data fingerprint). Loading never unpickles anything: a pickle offered as a checkpoint
is recognised by its name or magic bytes and refused before it is opened by any loader.

Also here: :func:`init_from_imagenet`, which starts a model from torchvision ResNet weights (online) or a
local state-dict file (``torch.load(weights_only=True)``), loading what matches and reporting the rest.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, OfflineError, UnknownNameError
from ..fileio import atomic_path, sha256_file, write_json_atomic
from .card import (  # noqa: F401  (re-exported: the card and its files, without torch)
    _PICKLE_MAGIC,
    CARD_NAME,
    FORMAT,
    PICKLE_SUFFIXES,
    WEIGHTS_NAME,
    _looks_like_pickle,
    _refuse_pickle,
    _resolve,
    read_card,
)

KINDS = ("classifier", "encoder")


# ------------------------------------------------------------------------------------------- helpers
def _check_safetensors_header(path: Path) -> None:
    """A safetensors file starts with an 8-byte little-endian header length and a JSON object."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(9)
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint weights {path}: {exc}") from exc
    if len(raw) < 9:
        raise CheckpointError(f"{path} is not a safetensors file (only {len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if raw[8:9] != b"{" or n + 8 > size:
        if _looks_like_pickle(path):
            _refuse_pickle(path)
        raise CheckpointError(f"{path} is not a valid safetensors file (bad header)")


#: keyword arguments a card may pass to an architecture's factory (never private ones such as ``_layers``)
CARD_ARCH_KWARGS: dict[str, tuple[type, ...]] = {
    "width": (int,),
    "width_mult": (int, float),
    "rla_channels": (int,),
    "rla_type": (str,),
    "attention": (str, type(None)),
    "drop_rate": (int, float),
    "zero_init_residual": (bool,),
}
MAX_CLASSES = 100_000


MAX_MEMBERS = 4  # an ensemble card (arch "ensemble") names at most this many member networks


def _check_arch_kwargs(kw: Any, bad: Callable[[str], CheckpointError], who: str = "") -> None:
    if not isinstance(kw, dict):
        raise bad(f"{who}'arch_kwargs' must be an object, got {type(kw).__name__}")
    for k, v in kw.items():
        if k not in CARD_ARCH_KWARGS:
            raise bad(
                f"{who}arch_kwargs key {k!r} is not allowed; allowed: {', '.join(sorted(CARD_ARCH_KWARGS))}"
            )
        types = CARD_ARCH_KWARGS[k]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            raise bad(f"{who}arch_kwargs {k!r} must be {' or '.join(t.__name__ for t in types)}, got {v!r}")


def validate_card(card: Any, where: str = "card") -> dict[str, Any]:
    """Check a card's schema before anything is built: known keys and types, no private arguments.

    Raises :class:`CheckpointError` with one line naming the first problem.
    """

    def bad(msg: str) -> CheckpointError:
        return CheckpointError(f"{where}: {msg}")

    if not isinstance(card, dict):
        raise bad(f"a card is a JSON object, got {type(card).__name__}")
    if not isinstance(card.get("arch"), str) or not card["arch"]:
        raise bad("'arch' must be a registered architecture name")
    kw = card.get("arch_kwargs", {})
    if card["arch"] == "ensemble" and isinstance(kw, dict) and set(kw) == {"members"}:
        members = kw["members"]
        if not isinstance(members, list) or not 2 <= len(members) <= MAX_MEMBERS:
            raise bad(f"an ensemble's 'members' must list 2 to {MAX_MEMBERS} networks")
        for i, m in enumerate(members):
            if (
                not isinstance(m, dict)
                or set(m) - {"arch", "arch_kwargs"}
                or not isinstance(m.get("arch"), str)
            ):
                raise bad(f"ensemble member {i} must be {{'arch': name, 'arch_kwargs': {{...}}}}")
            if m["arch"] == "ensemble":
                raise bad(f"ensemble member {i} is an ensemble")
            _check_arch_kwargs(m.get("arch_kwargs", {}), bad, f"member {i} ")
    else:
        _check_arch_kwargs(kw, bad)
    heads = card.get("heads")
    if not isinstance(heads, dict):
        raise bad("'heads' must be an object {name: [class names]} ({} for an encoder)")
    for name, classes in heads.items():
        if not name or not isinstance(classes, list) or not classes:
            raise bad(f"head {name!r} must list its class names")
        if len(classes) > MAX_CLASSES or not all(isinstance(c, str) for c in classes):
            raise bad(f"head {name!r}: class names must be strings (at most {MAX_CLASSES})")
    size = card.get("input_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        raise bad(f"'input_size' must be an integer in 8..4096, got {size!r}")
    for key in ("mean", "std"):
        v = card.get(key)
        if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)):
            raise bad(f"{key!r} must be a list of 3 numbers, got {v!r}")
    if any(float(x) <= 0 for x in card["std"]):
        raise bad("'std' values must be positive")
    crop = card.get("crop_pct", 1.0)
    if not isinstance(crop, (int, float)) or not 0.1 <= float(crop) <= 1.0:
        raise bad(f"'crop_pct' must be a number in 0.1..1, got {crop!r}")
    return card


def _header_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the safetensors header alone (no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read safetensors weights {weights}: {exc}") from exc


class _Shape:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


def _state_dict_for_save(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def _shape_problems(expected: dict[str, Any], got: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [
        f"{k}: weights {tuple(got[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(got))
        if tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    return missing, unexpected, shapes


def _fmt(items: list[str], n: int = 5) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _mismatch_message(card: dict, missing: list[str], unexpected: list[str], shapes: list[str], sd) -> str:
    weight_heads = {
        k.split(".")[1]: int(v.shape[0])
        for k, v in sd.items()
        if k.startswith("heads.") and k.endswith(".weight")
    }
    card_heads = {k: len(v) for k, v in card.get("heads", {}).items()}
    parts = [
        f"checkpoint weights do not match their card (arch={card.get('arch')!r}, "
        f"arch_kwargs={card.get('arch_kwargs', {})}, card heads={card_heads}, weight heads={weight_heads})"
    ]
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches: {_fmt(shapes)}")
    if missing:
        parts.append(f"{len(missing)} keys missing from the weights: {_fmt(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys in the weights: {_fmt(unexpected)}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------ save/load
def save_checkpoint(out_dir: str | Path, model: nn.Module, card: dict[str, Any]) -> Path:
    """Write ``out_dir/model.safetensors`` then ``out_dir/card.json`` (each atomically); return ``out_dir``.

    The card is completed with format, arch/arch_kwargs (from the model built by ``create_model`` when
    absent), heads (``{name: [class names]}``; ``{}`` for an encoder), kind, input_size/mean/std (registry
    defaults when absent), embedding_dim, weights_sha256 and created. Other keys (metrics, train_data,
    ...) are kept as given. The card is checked against the model before anything is written.
    """
    from safetensors.torch import save_file

    from .registry import create_model, model_info

    out_dir = Path(out_dir)
    card = dict(card)
    arch = card.get("arch") or getattr(model, "arch_name", None)
    if not arch:
        raise CheckpointError(
            "card needs 'arch' (the registered architecture name) for a model not made by create_model"
        )
    arch_kwargs = dict(card.get("arch_kwargs", getattr(model, "arch_kwargs", {})) or {})
    head_names = list(getattr(model, "head_names", []))
    heads = card.get("heads")
    if heads is None:
        heads = {h: [str(i) for i in range(model.heads[h].out_features)] for h in head_names}
    heads = {str(k): [str(c) for c in v] for k, v in heads.items()}
    if set(heads) != set(head_names):
        raise CheckpointError(
            f"card heads {sorted(heads)} differ from the model's heads {sorted(head_names)}"
        )
    for h, classes in heads.items():
        if len(classes) != model.heads[h].out_features:
            raise CheckpointError(
                f"head {h!r}: card lists {len(classes)} classes, model outputs {model.heads[h].out_features}"
            )
    try:
        info = model_info(arch)
    except UnknownNameError as exc:
        raise CheckpointError(str(exc)) from exc
    sd = _state_dict_for_save(model)
    with torch.device("meta"):  # rebuild from the card (shapes only) to prove the card can load these weights
        probe = create_model(arch, **arch_kwargs, heads={h: len(c) for h, c in heads.items()})
    missing, unexpected, shapes = _shape_problems(probe.state_dict(), sd)
    if missing or unexpected or shapes:
        raise CheckpointError(
            _mismatch_message(
                {**card, "arch": arch, "arch_kwargs": arch_kwargs, "heads": heads},
                missing,
                unexpected,
                shapes,
                sd,
            )
        )
    input_size = card.get("input_size", info["input_size"])
    card.update(
        format=FORMAT,
        arch=arch,
        arch_kwargs=arch_kwargs,
        heads=heads,
        kind=card.get("kind") or ("classifier" if heads else "encoder"),
        input_size=int(input_size),
        mean=[float(x) for x in card.get("mean", info["mean"])],
        std=[float(x) for x in card.get("std", info["std"])],
        embedding_dim=int(model.num_features),
    )
    if card["kind"] not in KINDS:
        raise CheckpointError(f"card kind {card['kind']!r} is not one of {', '.join(KINDS)}")
    weights = out_dir / WEIGHTS_NAME
    with atomic_path(weights) as tmp:
        save_file(sd, str(tmp), metadata={"format": FORMAT, "arch": arch})
    card["weights_sha256"] = sha256_file(weights)
    card["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    first = ("format", "arch", "arch_kwargs", "kind", "heads", "input_size", "mean", "std", "embedding_dim")
    card = {**{k: card[k] for k in first}, **{k: v for k, v in card.items() if k not in first}}
    write_json_atomic(out_dir / CARD_NAME, card)
    return out_dir


def checkpoint_files(path: str | Path) -> tuple[Path, Path]:
    """(weights file, card file) of a checkpoint given as its folder or its ``.safetensors`` file."""
    return _resolve(path)


def checkpoint_hash(path: str | Path) -> str:
    """sha256 of the checkpoint's weights file."""
    weights, _ = _resolve(path)
    return sha256_file(weights)


def load_checkpoint(path: str | Path, *, verify_hash: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a card describes and load its safetensors weights strictly (eval mode, CPU).

    Raises :class:`CheckpointError` for a pickle (never opened), a card/weights mismatch (names the keys
    and shapes), weights changed since the card was written, or an unknown architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .registry import create_model

    weights, card_path = _resolve(path)
    _check_safetensors_header(weights)
    card = validate_card(read_card(path), where=str(card_path))
    if verify_hash and card.get("weights_sha256") and sha256_file(weights) != card["weights_sha256"]:
        raise CheckpointError(
            f"{weights} changed after its card was written (sha256 differs from the card's)"
        )
    heads = {k: len(v) for k, v in card["heads"].items()}

    def build() -> nn.Module:
        try:
            return create_model(card["arch"], **card.get("arch_kwargs", {}), heads=heads)
        except UnknownNameError as exc:
            raise CheckpointError(f"card of {weights.parent}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"card of {weights.parent} cannot build {card['arch']!r}: {exc}") from exc

    # shapes first, on the meta device: a card that describes another model is refused before any
    # memory is allocated for it (a 5 MB file whose card says width 512 would otherwise take GBs)
    with torch.device("meta"):
        probe = build()
    header = {k: _Shape(v) for k, v in _header_shapes(weights).items()}
    missing, unexpected, shapes = _shape_problems(probe.state_dict(), header)
    if missing or unexpected or shapes:
        raise CheckpointError(_mismatch_message(card, missing, unexpected, shapes, header))
    del probe
    try:
        sd = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read safetensors weights {weights}: {exc}") from exc
    model = build()
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, card


# ------------------------------------------------------------------------------------- ImageNet init
_TORCHVISION_NAMES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "rla_resnet18": "resnet18",
    "rla_resnet34": "resnet34",
    "rla_resnet50": "resnet50",
    "rla_resnet101": "resnet101",
    "mobilenetv2": "mobilenet_v2",
    "rla_mobilenetv2": "mobilenet_v2",
    "rla_mobilenetv2_eca": "mobilenet_v2",
}


def _download_torchvision_state_dict(tv_name: str) -> dict[str, torch.Tensor]:
    """torchvision's DEFAULT ImageNet weights (uses the torch hub cache when present)."""
    import torchvision

    weights = torchvision.models.get_model_weights(tv_name).DEFAULT
    return weights.get_state_dict(progress=False, check_hash=True)


def _read_local_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise CheckpointError(f"ImageNet weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd: Any = load_file(str(path), device="cpu")
    else:
        try:  # weights_only: tensors and plain containers only, no code runs
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # the unpickler refuses anything but tensors
            raise CheckpointError(
                f"{path} is not a plain state dict (weights_only load refused it: {exc})"
            ) from exc
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


@torch.no_grad()
def init_from_imagenet(model: nn.Module, source: str | Path | None = None) -> dict[str, Any]:
    """Initialise ``model`` from ImageNet ResNet weights; returns a report of what was loaded.

    ``source``: ``None`` -> torchvision's weights for the matching depth (download, or the torch hub cache);
    a path -> a local state dict (``.pth`` via ``torch.load(weights_only=True)``, or ``.safetensors``).
    Tensors with the same name and shape load; an RLA block's first conv, which also reads the RLA state,
    gets the ImageNet kernel for its image channels and zeros for the state channels (so each block starts
    as the pretrained one); a 1000-class ``fc`` loads into a head of the same shape; everything else (RLA
    modules, heads) keeps its fresh initialisation. Offline without a file -> :class:`OfflineError`.
    """
    arch = getattr(model, "arch_name", None)
    if source is None:
        tv_name = _TORCHVISION_NAMES.get(arch or "")
        if tv_name is None:
            raise CheckpointError(
                f"no torchvision ImageNet weights for architecture {arch!r}; "
                f"available for: {', '.join(sorted(_TORCHVISION_NAMES))} (or give a local state-dict file)"
            )
        try:
            src = _download_torchvision_state_dict(tv_name)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            raise OfflineError(
                f"cannot download torchvision {tv_name} ImageNet weights ({type(exc).__name__}); offline, "
                f"copy the file (e.g. {tv_name}-*.pth from download.pytorch.org/models) here and pass its path"
            ) from exc
        source_name = f"torchvision:{tv_name}"
    else:
        path = Path(source)
        if path.suffix.lower() in (".pkl", ".pickle"):
            _refuse_pickle(path)
        src = _read_local_state_dict(path)
        source_name = str(path)

    target = model.state_dict()
    loaded, partial, used = [], [], set()
    for key, t in target.items():
        s = src.get(key)
        if s is not None and tuple(s.shape) == tuple(t.shape):
            t.copy_(s.to(t.dtype))
            loaded.append(key)
            used.add(key)
        elif (
            s is not None
            and s.ndim == 4
            and t.ndim == 4
            and t.shape[0] == s.shape[0]
            and t.shape[2:] == s.shape[2:]
            and t.shape[1] > s.shape[1]
        ):  # RLA: a conv that reads [x, h]; x channels come first, the h columns start at zero
            t.zero_()
            t[:, : s.shape[1]].copy_(s.to(t.dtype))
            partial.append(key)
            used.add(key)
        elif (
            s is not None
            and s.ndim == t.ndim
            and s.ndim in (1, 4)
            and t.shape[0] > s.shape[0]
            and t.shape[1:] == s.shape[1:]
        ):  # RLA-MobileNetV2: a depthwise conv / its BN runs over [x, h]; h channels keep their fresh init
            t[: s.shape[0]].copy_(s.to(t.dtype))
            partial.append(key)
            used.add(key)
    # the ImageNet classifier, when a head has its exact shape (e.g. the default 1000-class "logits" head)
    heads = getattr(model, "heads", {})
    for name in list(heads.keys()) if heads else []:
        w, b = f"heads.{name}.weight", f"heads.{name}.bias"
        if "fc.weight" in src and tuple(src["fc.weight"].shape) == tuple(target[w].shape) and w not in loaded:
            target[w].copy_(src["fc.weight"])
            target[b].copy_(src["fc.bias"])
            loaded += [w, b]
            used |= {"fc.weight", "fc.bias"}
    done = set(loaded) | set(partial)
    fresh = [k for k in target if k not in done and not k.endswith("num_batches_tracked")]
    unused = sorted(k for k in src if k not in used and not k.endswith("num_batches_tracked"))
    n_params = sum(v.numel() for k, v in target.items() if k in done)
    total = sum(v.numel() for v in target.values())
    report = {
        "source": source_name,
        "loaded": loaded,
        "partial": partial,
        "fresh": fresh,
        "unused": unused,
        "loaded_fraction": n_params / max(total, 1),
    }
    report["summary"] = (
        f"ImageNet init from {source_name}: {len(loaded)} tensors loaded, {len(partial)} partially "
        f"(RLA-extended convs), {len(fresh)} fresh, {len(unused)} unused from the source; "
        f"{100 * report['loaded_fraction']:.1f}% of values initialised from ImageNet"
    )
    return report
