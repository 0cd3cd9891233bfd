"""The ArtGAN WikiArt splits (Tan et al., "Improved ArtGAN", TIP 2019), merged per image.

The published files, with their quirks, all handled here:

- style: ``style_class.txt``, ``style_train.csv``, ``style_val.csv`` (27 classes); genre:
  ``genre_class``, ``genre_train.csv``, ``genre_val.csv`` (10); artist: ``artist_class``,
  ``artist_train``, ``artist_val`` (23). Names may or may not carry ``.csv``/``.txt``, and may sit
  in per-task subfolders (``Style/``...).
- style and genre rows are ``path,index`` with CRLF line ends; artist rows are ``path,,index``
  after a header line ``(Path to image),, (Groundtruth class)`` and a blank line.
- class lists are ``index name`` lines, or bare names (index = line number).
- about 700 paths are UTF-8 read as Latin-1 and then lowercased (``bã¶cklin`` for ``böcklin``);
  image lookup matches either spelling (see :func:`path_key`).

Merging: one row per image with ``path, style, artist, genre, split``; a painting without a label
for an attribute has ``""`` there (masked for that head). About 600 images are in the *train*
list of one task and the *val* list of another; such an image gets split ``val`` and its labels
from the train lists are masked, so each task's val set is exactly the official one and no image
seen in training is evaluated.

Validation: a row with a missing column, a class index outside the class list, an image file that
is missing or unreadable are each reported with counts and examples (:class:`ArtGANReport`);
``on_error="skip"`` drops what is wrong (a bad label is masked, a missing image drops the row) and
``"fail"`` raises :class:`ArtGANSplitError`. Two rows giving one image different labels (the real
``genre_val.csv`` has one such pair) are masked and reported, but are not a reason to fail.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..catalog import ATTRIBUTES
from ..errors import ArtExtractError, BadImageError, CatalogError

SPLIT_NAMES: tuple[str, ...] = ("train", "val")
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
ON_ERROR = ("skip", "fail")
CHECK_IMAGES = ("none", "exists", "decode")
#: Problems that make ``on_error="fail"`` raise; the other kinds are informational.
ERROR_KINDS = (
    "missing file",
    "missing column",
    "bad class index",
    "missing image",
    "unreadable image",
)


class ArtGANSplitError(CatalogError):
    """The split files have problems and ``on_error="fail"`` was asked for."""


# --------------------------------------------------------------------------------------- report
@dataclass
class Issue:
    """One kind of problem in one place, with a count and a few examples."""

    kind: str
    where: str
    count: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.kind in ERROR_KINDS

    def line(self) -> str:
        ex = "; ".join(self.examples[:3])
        return f"{self.kind} in {self.where}: {self.count}" + (f" (e.g. {ex})" if ex else "")


@dataclass
class ArtGANReport:
    """What was read, what was merged, and every problem found."""

    files: dict[str, str] = field(default_factory=dict)  # "style_train" -> path
    rows: dict[str, int] = field(default_factory=dict)  # "style_train" -> rows read
    issues: list[Issue] = field(default_factory=list)
    split_conflicts: int = 0
    n_listed: int = 0  # images named by the split files
    n_images: int = 0  # images in the merged table (after dropping missing/unreadable ones)
    missing_images: list[str] = field(default_factory=list)  # every listed path not found
    labelled: dict[str, dict[str, int]] = field(default_factory=dict)  # attr -> split -> n

    def add(self, kind: str, where: str, example: str, limit: int = 5) -> None:
        for issue in self.issues:
            if issue.kind == kind and issue.where == where:
                break
        else:
            issue = Issue(kind, where)
            self.issues.append(issue)
        issue.count += 1
        if len(issue.examples) < limit:
            issue.examples.append(example)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        return [i.line() for i in self.issues]

    def summary_line(self) -> str:
        parts = []
        for a in ATTRIBUTES:
            lab = self.labelled.get(a, {})
            parts.append(f"{a} {lab.get('train', 0)}/{lab.get('val', 0)}")
        errs = sum(i.count for i in self.errors)
        masked = sum(i.count for i in self.issues if i.kind == "conflicting labels")
        return (
            f"ArtGAN splits: {self.n_images} image(s); labelled train/val: {', '.join(parts)}; "
            f"{self.split_conflicts} train/val conflict(s) across tasks put in val; "
            f"{masked} contradictory label(s) masked; "
            f"{errs} problem row(s)" + (f" ({'; '.join(i.line() for i in self.errors)})" if errs else "")
        )


@dataclass
class ArtGANSplits:
    """The merged table, the class lists (official index order) and the report."""

    table: pd.DataFrame
    vocab: dict[str, list[str]]
    report: ArtGANReport


# ---------------------------------------------------------------------------------------- paths
def fix_mojibake(s: str) -> str:
    """Undo UTF-8 read as Latin-1/CP1252, also when it was lowercased afterwards, as in the ArtGAN
    files (``grã©goire`` -> ``grégoire``, ``bÃ¶cklin`` -> ``böcklin``); other text is unchanged."""
    if s.isascii():
        return s
    for enc in ("latin-1", "cp1252"):
        try:
            raw = s.encode(enc)
        except UnicodeEncodeError:
            continue
        fixed = _decode_utf8_lowered(raw)
        if fixed is not None and fixed != s:
            return fixed
    return s


def _decode_utf8_lowered(b: bytes) -> str | None:
    """Decode UTF-8 whose 2-byte lead bytes may have been lowercased (C3 -> E3); None if not UTF-8."""
    out: list[str] = []
    i = 0
    while i < len(b):
        c = b[i]
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        for n in (2, 3, 4):
            try:
                out.append(b[i : i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                pass
        else:
            # a lowercased Latin-1 capital (0xC0-0xDE -> 0xE0-0xFE) standing for a 2-byte lead
            if 0xE0 <= c <= 0xFE and i + 1 < len(b) and 0x80 <= b[i + 1] <= 0xBF:
                try:
                    out.append(bytes([c - 0x20, b[i + 1]]).decode("utf-8"))
                    i += 2
                    continue
                except UnicodeDecodeError:
                    pass
            return None
    return "".join(out)


def path_key(rel: str) -> str:
    """Matching key of a relative image path: mojibake repaired, Unicode NFC, forward slashes."""
    rel = rel.replace("\\", "/").strip().lstrip("./")
    return unicodedata.normalize("NFC", fix_mojibake(unicodedata.normalize("NFC", rel)))


def index_images(root: str | Path, exts: Iterable[str] = IMAGE_EXTENSIONS) -> dict[str, str]:
    """Map :func:`path_key` -> actual relative path (POSIX) for every image file under ``root``."""
    root = Path(root)
    exts = {e.lower() for e in exts}
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in exts:
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            out.setdefault(path_key(rel), rel)
    return out


# ---------------------------------------------------------------------------------------- files
def _find(splits_dir: Path, attr: str, part: str) -> Path | None:
    stems = [f"{attr}_{part}"]
    folders = [splits_dir] + [
        p for p in sorted(splits_dir.iterdir()) if p.is_dir() and p.name.lower() == attr
    ]
    for folder in folders:
        by_lower = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
        for stem in stems:
            for ext in ("", ".csv", ".txt"):
                if stem + ext in by_lower:
                    return by_lower[stem + ext]
    return None


def find_split_files(splits_dir: str | Path) -> dict[str, dict[str, Path | None]]:
    """``{attr: {"class": path, "train": path, "val": path}}`` (None where a file is absent)."""
    splits_dir = Path(splits_dir)
    if not splits_dir.is_dir():
        raise CatalogError(f"ArtGAN splits folder {splits_dir} not found")
    return {a: {part: _find(splits_dir, a, part) for part in ("class", *SPLIT_NAMES)} for a in ATTRIBUTES}


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.splitlines()  # handles CRLF and LF


def read_class_list(path: str | Path) -> list[str]:
    """Class names in index order, from ``index name`` lines or bare names (one per line)."""
    path = Path(path)
    entries: list[tuple[int | None, str]] = []
    for line in _read_lines(path):
        line = line.strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        if head.isdigit() and rest.strip():
            entries.append((int(head), rest.strip()))
        else:
            entries.append((None, line))
    if not entries:
        raise CatalogError(f"{path}: empty class list")
    if all(i is None for i, _ in entries):
        return [name for _, name in entries]
    if any(i is None for i, _ in entries):
        raise CatalogError(f"{path}: mixes 'index name' lines and bare names")
    idx = sorted(i for i, _ in entries)  # type: ignore[type-var]
    if idx != list(range(len(entries))):
        raise CatalogError(f"{path}: class indices must be 0..{len(entries) - 1} once each, got {idx[:8]}...")
    return [name for _, name in sorted(entries)]  # type: ignore[type-var]


def _is_header(line: str) -> bool:
    last = line.rstrip().rsplit(",", 1)[-1].strip()
    return line.lstrip().startswith("(") or (not last.isdigit() and "path" in line.lower())


def read_split_file(
    path: str | Path, n_classes: int, report: ArtGANReport, where: str
) -> list[tuple[str, int]]:
    """Rows ``(image path, class index)``; bad rows go to ``report`` and are left out."""
    rows: list[tuple[str, int]] = []
    first = True
    for lineno, raw in enumerate(_read_lines(Path(path)), 1):
        line = raw.strip()
        if not line:
            continue
        if first:
            first = False
            if _is_header(line):
                continue
        example = f"line {lineno}: {line[:80]!r}"
        if "," not in line:
            report.add("missing column", where, example)
            continue
        img, idx = line.rsplit(",", 1)
        img, idx = img.rstrip(",").strip(), idx.strip()  # ",," separator in the artist files
        if not img or not idx:
            report.add("missing column", where, example)
            continue
        try:
            k = int(idx)
        except ValueError:
            report.add("bad class index", where, example + f" (not a number; valid 0..{n_classes - 1})")
            continue
        if not 0 <= k < n_classes:
            report.add("bad class index", where, example + f" (outside 0..{n_classes - 1})")
            continue
        rows.append((img, k))
    return rows


# ---------------------------------------------------------------------------------------- merge
def load_artgan(
    splits_dir: str | Path,
    *,
    images_root: str | Path | None = None,
    image_index: dict[str, str] | None = None,
    check_images: str = "exists",
    on_error: str = "skip",
    workers: int = 4,
    progress: bool | Callable[[int, int], None] = False,
) -> ArtGANSplits:
    """Read, validate and merge the split files; see the module docstring.

    ``images_root``: the WikiArt folder, to check each listed image (``check_images``: ``"none"``,
    ``"exists"`` or ``"decode"``); the table's ``path`` is then the file's actual relative path.
    ``image_index``: a precomputed :func:`index_images` of ``images_root``.
    ``on_error``: ``"skip"`` or ``"fail"``.
    """
    if on_error not in ON_ERROR:
        raise ArtExtractError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if check_images not in CHECK_IMAGES:
        raise ArtExtractError(f"check_images must be one of {', '.join(CHECK_IMAGES)}, got {check_images!r}")
    files = find_split_files(splits_dir)
    report = ArtGANReport()
    vocab: dict[str, list[str]] = {}
    # labels[attr][path] = (class name, split); None marks a contradiction (masked)
    labels: dict[str, dict[str, tuple[str, str] | None]] = {a: {} for a in ATTRIBUTES}
    order: dict[str, int] = {}
    for attr, parts in files.items():
        if parts["class"] is None:
            report.add("missing file", str(splits_dir), f"{attr}_class[.txt]")
            vocab[attr] = []
            continue
        report.files[f"{attr}_class"] = str(parts["class"])
        vocab[attr] = read_class_list(parts["class"])
        for split in SPLIT_NAMES:
            path = parts[split]
            if path is None:
                report.add("missing file", str(splits_dir), f"{attr}_{split}[.csv]")
                continue
            report.files[f"{attr}_{split}"] = str(path)
            rows = read_split_file(path, len(vocab[attr]), report, path.name)
            report.rows[f"{attr}_{split}"] = len(rows)
            for img, k in rows:
                order.setdefault(img, len(order))
                new = (vocab[attr][k], split)
                old = labels[attr].get(img, new)
                if old is None or old != new:
                    if old is not None:
                        report.add(
                            "conflicting labels",
                            f"{attr} lists",
                            f"{img}: {old[0]} ({old[1]}) vs {new[0]} ({split})",
                        )
                    labels[attr][img] = None
                else:
                    if img in labels[attr] and labels[attr][img] == new:
                        report.add("duplicate row", path.name, img)
                    labels[attr][img] = new

    paths = sorted(order, key=order.__getitem__)
    records = []
    for img in paths:
        per = {a: labels[a].get(img) for a in ATTRIBUTES}
        splits = {v[1] for v in per.values() if v is not None}
        split = "val" if "val" in splits else ("train" if splits else "")
        if len(splits) > 1:
            report.split_conflicts += 1
            report.add(
                "train/val conflict across tasks (put in val, train labels masked)",
                "split lists",
                img + ": " + ", ".join(f"{a} {v[1]}" for a, v in per.items() if v is not None),
            )
        rec = {"path": img}
        for a in ATTRIBUTES:
            v = per[a]
            rec[a] = v[0] if v is not None and v[1] == split else ""
        rec["split"] = split
        records.append(rec)
    table = pd.DataFrame.from_records(records, columns=["path", *ATTRIBUTES, "split"])
    report.n_listed = len(table)

    if images_root is not None and check_images != "none":
        table = _check_images(table, Path(images_root), image_index, check_images, report, workers, progress)
    report.n_images = len(table)
    report.labelled = {
        a: {s: int(((table[a] != "") & (table["split"] == s)).sum()) for s in SPLIT_NAMES} for a in ATTRIBUTES
    }
    if on_error == "fail" and not report.ok:
        raise ArtGANSplitError(
            "ArtGAN splits: "
            + "; ".join(i.line() for i in report.errors)
            + "; fix the files or use on_error='skip' (--on-missing skip) to leave these out"
        )
    return ArtGANSplits(table.reset_index(drop=True), vocab, report)


def _check_images(
    table: pd.DataFrame,
    root: Path,
    on_disk: dict[str, str] | None,
    mode: str,
    report: ArtGANReport,
    workers: int,
    progress: bool | Callable[[int, int], None],
) -> pd.DataFrame:
    """Resolve each listed path under ``root``; drop (and report) missing or unreadable ones."""
    if not root.is_dir():
        raise CatalogError(f"image folder {root} not found")
    if on_disk is None:
        on_disk = index_images(root)
    actual = table["path"].map(lambda p: on_disk.get(path_key(p), ""))
    for p in table["path"][actual == ""]:
        report.add("missing image", str(root), p)
        report.missing_images.append(p)
    table = table.assign(path=actual)[actual != ""]
    if mode == "decode" and len(table):
        from ..images import load_image

        def check(rel: str) -> str:
            try:
                load_image(root / rel).close()
                return ""
            except BadImageError as exc:
                return str(exc)

        bar = None
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(table), desc="checking images", unit="img")
        msgs = []
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for i, m in enumerate(pool.map(check, table["path"]), 1):
                msgs.append(m)
                if bar is not None:
                    bar.update(1)
                elif callable(progress):
                    progress(i, len(table))
        if bar is not None:
            bar.close()
        bad = pd.Series(msgs, index=table.index) != ""
        for rel, m in zip(table["path"][bad], pd.Series(msgs, index=table.index)[bad], strict=True):
            report.add("unreadable image", str(root), f"{rel}: {m.split(': ', 1)[-1]}")
        table = table[~bad]
    return table


def read_artgan_splits(splits_dir: str | Path, **kwargs) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """``(table[path, style, artist, genre, split], vocab)``; see :func:`load_artgan` for options."""
    s = load_artgan(splits_dir, **kwargs)
    return s.table, s.vocab
