"""Loading a released checkpoint in a fresh process (the app's first load, a CLI command): with the
shapes-only probe drawing no random weights, against the probe drawing them as it did before
(``layers.init_weights``'s meta-device skip turned off), interleaved in the same run.

    python bench/checkpoint_load.py                               # models/ensemble-wikiart
    python bench/checkpoint_load.py --checkpoint models/rla_mobilenetv2-wikiart --repeats 5

``load_checkpoint`` first builds the model on the meta device to check the card against the weights'
shapes. There the first random draws of a process go through torch's Python decompositions, which load
on first use: a one-off cost a warm process no longer pays, so each load here runs in its own process
(torch imported before the clock starts). Prints the median of each way and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_once(checkpoint: str, probe_draws: bool) -> float:
    """Seconds :func:`load_checkpoint` takes in this (fresh) process."""
    from artextract.nets import layers
    from artextract.nets.checkpoint import load_checkpoint

    if probe_draws:
        layers.is_meta = lambda model: False
    t0 = time.perf_counter()
    load_checkpoint(checkpoint)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "models/ensemble-wikiart"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--one", choices=["now", "before"], help=argparse.SUPPRESS)  # one load, in this process
    args = ap.parse_args(argv)
    if args.one:
        print(load_once(args.checkpoint, args.one == "before"))
        return 0
    times: dict[str, list[float]] = {"now": [], "before": []}
    for _ in range(max(1, args.repeats)):
        for way in times:
            out = subprocess.run(
                [sys.executable, __file__, "--checkpoint", args.checkpoint, "--one", way],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            times[way].append(float(out.stdout.strip().splitlines()[-1]))
    now, before = statistics.median(times["now"]), statistics.median(times["before"])
    print(
        f"{Path(args.checkpoint).name}, loaded in a fresh process (median of {args.repeats}): {now:.2f}s with "
        f"the shapes-only probe drawing no random weights, {before:.2f}s with it drawing them as before "
        f"(x{before / now:.1f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
