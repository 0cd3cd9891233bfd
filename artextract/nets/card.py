"""A released checkpoint's card and files, without torch: what the app reads to describe a checkpoint or
to check what is stored beside it (the open-set gate), before (or without) loading any weights.
:mod:`artextract.nets.checkpoint` loads and saves the weights, and re-exports these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

FORMAT = "artextract.checkpoint/1"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "card.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2; torch.save's zip container


# ------------------------------------------------------------------------------------------- helpers
def _looks_like_pickle(path: Path) -> bool:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return any(head.startswith(m) for m in _PICKLE_MAGIC)


def _refuse_pickle(path: Path) -> None:
    raise CheckpointError(
        f"{path} looks like a pickle (torch.save) file; it was NOT opened, because unpickling can run "
        f"arbitrary code. Released checkpoints are a folder with {WEIGHTS_NAME} + {CARD_NAME}; "
        "re-export trusted weights with artextract.nets.checkpoint.save_checkpoint"
    )


def _resolve(path: str | Path) -> tuple[Path, Path]:
    """(weights file, card file) for a checkpoint folder or its ``.safetensors`` file."""
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS_NAME
        if not weights.exists():
            pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
            hint = f" (found {', '.join(pickles)}: pickle files are never loaded)" if pickles else ""
            raise CheckpointError(f"no {WEIGHTS_NAME} in checkpoint folder {path}{hint}")
        return weights, path / CARD_NAME
    if not path.exists():
        raise CheckpointError(
            f"checkpoint not found: {path} (give a folder with {WEIGHTS_NAME} + {CARD_NAME})"
        )
    if _looks_like_pickle(path):
        _refuse_pickle(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: expected a checkpoint folder or a .safetensors file")
    return path, path.with_name(CARD_NAME)


def read_card(path: str | Path) -> dict[str, Any]:
    """The card of a checkpoint folder (or of the folder holding a ``.safetensors`` file)."""
    _, card_path = _resolve(path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint has no {CARD_NAME}: {card_path}") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"unreadable {CARD_NAME} at {card_path}: {exc}") from exc
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(
            f"{card_path} is not an ArtExtract card (format {card.get('format') if isinstance(card, dict) else None!r}, "
            f"expected {FORMAT!r})"
        )
    for key in ("arch", "heads", "input_size", "mean", "std"):
        if key not in card:
            raise CheckpointError(f"{card_path} lacks {key!r}")
    return card
