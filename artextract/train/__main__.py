"""``python -m artextract.train classifier|byol|compare ...`` (also ``torchrun -m artextract.train ...``)."""

from __future__ import annotations

import sys

from ..errors import ArtExtractError

COMMANDS = {
    "classifier": "multi-attribute classifier (style, artist, genre) on a catalog's train/val split",
    "byol": "self-supervised BYOL encoder on every painting of a catalog",
    "compare": "RLA-ResNet vs plain ResNet, same depth and budget; writes results/<name>.md",
    "open-set": "the gate that says when a painting is by none of a head's artists (beside a checkpoint)",
    "ensemble": "one classifier from several trained alike (logits averaged), chosen on their selection set",
}


def _usage() -> str:
    lines = [
        "usage: python -m artextract.train {classifier,byol,compare,open-set,ensemble} [options]  (--help after a command)",
        "",
    ]
    lines += [f"  {name:<11} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a trainer; an :class:`ArtExtractError` becomes one line on stderr and exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(
            f"error: unknown command {command!r}; valid: {', '.join(COMMANDS)}\n\n{_usage()}", file=sys.stderr
        )
        return 2
    ok = False
    try:
        if command == "classifier":
            from .classifier import main as run
        elif command == "byol":
            from .byol import main as run
        elif command == "open-set":
            from .open_set import main as run
        elif command == "ensemble":
            from .ensemble import main as run
        else:
            from .compare import main as run
        code = run(rest)
        ok = True
        return code
    except ArtExtractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        from .common import cleanup_distributed

        cleanup_distributed(ok)


if __name__ == "__main__":
    sys.exit(main())
