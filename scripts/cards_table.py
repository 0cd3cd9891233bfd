"""Print a Markdown table of classifier runs from their cards (held-out val figures, epochs, wall time).

python scripts/cards_table.py runs/gpu/*/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _min_scale(run: Path) -> str:
    """RandomResizedCrop's smallest area, from the run's resolved arguments (``args.yaml``)."""
    path = run / "args.yaml"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("min_scale:"):
                return line.split(":", 1)[1].strip()
    return "?"


def main(dirs: list[str]) -> int:
    print(
        "| run | arch | init | px | min crop | epochs run (chosen) | wall | style top-1 / macro-F1 | artist | genre "
        "| style with test-time flips |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in dirs:
        d = Path(d)
        card = json.loads((d / "card.json").read_text(encoding="utf-8"))
        args = card["training"]["command"]
        epochs = sum(
            1
            for line in (d / "log.jsonl").read_text(encoding="utf-8").splitlines()
            if '"type": "epoch"' in line
        )
        m = card["metrics"]
        init = "ImageNet" if "--imagenet-weights" in args or "--init imagenet" in args else "scratch"
        cells = [f"{m[h]['top1']:.3f} / {m[h]['macro_f1']:.3f}" for h in ("style", "artist", "genre")]
        wall = card["training"].get("wall_s") or 0
        scale = _min_scale(d)
        flips = card.get("metrics_flip", {}).get("style")
        flipped = f"{flips['top1']:.3f} / {flips['macro_f1']:.3f}" if flips else "-"
        print(
            f"| {d.name} | {card['arch']} | {init} | {card['input_size']} | {scale} | {epochs} ({m['epoch']}) "
            f"| {wall / 60:.1f} min | " + " | ".join(cells) + f" | {flipped} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
