"""Curator verdicts on flagged paintings and on near-duplicate pairs, kept in SQLite so they survive
restarts.

One row per decision (``painting_id, bundle, verdict, note, reviewer, created``); a later decision on the same
painting in the same bundle supersedes the earlier one, and the history is kept. The database lives at
:func:`artextract.config.review_db_path` (``data/review.sqlite``) unless a path is given. Every call
opens its own short-lived connection, so the store is safe to use from several app sessions (threads)
and processes at once; WAL mode lets readers proceed while a verdict is being written.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import config
from .errors import ArtExtractError

VERDICTS: tuple[str, ...] = ("confirmed", "dismissed")
COLUMNS: tuple[str, ...] = ("painting_id", "bundle", "verdict", "note", "reviewer", "created")
MAX_NOTE_CHARS = 2000
MAX_REVIEWER_CHARS = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    painting_id TEXT NOT NULL,
    bundle TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'dismissed')),
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    reviewer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS verdicts_by_painting ON verdicts (bundle, painting_id, seq);
CREATE TABLE IF NOT EXISTS pair_verdicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pair TEXT NOT NULL,
    bundle TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('duplicate', 'distinct')),
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    reviewer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS pair_verdicts_by_pair ON pair_verdicts (bundle, pair, seq);
"""
#: Verdicts on a pair of near duplicates (Duplicates page).
PAIR_VERDICTS: tuple[str, ...] = ("duplicate", "distinct")


class ReviewError(ArtExtractError):
    """A verdict that cannot be recorded (unknown verdict, empty id) or an unreadable database."""


@dataclass(frozen=True)
class Verdict:
    painting_id: str
    bundle: str
    verdict: str
    note: str
    created: str
    reviewer: str = ""


@contextmanager
def _connect(db: str | Path | None) -> Iterator[sqlite3.Connection]:
    path = Path(db) if db is not None else config.review_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = sqlite3.connect(path, timeout=10.0)
    except sqlite3.Error as exc:
        raise ReviewError(f"cannot open the review database {path}: {exc}") from exc
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        cols = {r[1] for r in con.execute("PRAGMA table_info(verdicts)")}
        if "reviewer" not in cols:  # a database from before verdicts named their reviewer
            con.execute("ALTER TABLE verdicts ADD COLUMN reviewer TEXT NOT NULL DEFAULT ''")
        with con:  # one transaction: committed on success, rolled back on error
            yield con
    except sqlite3.DatabaseError as exc:
        raise ReviewError(f"review database {path} is unusable: {exc}") from exc
    finally:
        con.close()


def record(
    painting_id: str,
    bundle_name: str,
    verdict: str,
    note: str = "",
    *,
    reviewer: str = "",
    db: str | Path | None = None,
) -> Verdict:
    """Store a curator's verdict on one painting; it supersedes any earlier one for that painting.

    ``reviewer``: who made it (the app asks each browser session for a name and records nothing without one).
    """
    if verdict not in VERDICTS:
        raise ReviewError(f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}")
    if not str(painting_id).strip():
        raise ReviewError("a verdict needs a painting id")
    note, reviewer = _checked(bundle_name, note, reviewer)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    v = Verdict(str(painting_id), str(bundle_name), verdict, note, created, reviewer)
    with _connect(db) as con:
        con.execute(
            "INSERT INTO verdicts (painting_id, bundle, verdict, note, reviewer, created) VALUES (?, ?, ?, ?, ?, ?)",
            (v.painting_id, v.bundle, v.verdict, v.note, v.reviewer, v.created),
        )
    return v


def _checked(bundle_name: str, note: str, reviewer: str) -> tuple[str, str]:
    if not str(bundle_name).strip():
        raise ReviewError("a verdict needs the name of the bundle it was made in")
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"note is {len(note)} characters; keep it under {MAX_NOTE_CHARS}")
    reviewer = " ".join(str(reviewer or "").split())
    if len(reviewer) > MAX_REVIEWER_CHARS:
        raise ReviewError(f"reviewer name is {len(reviewer)} characters; keep it under {MAX_REVIEWER_CHARS}")
    return note, reviewer


def record_pair(
    pair: str,
    bundle_name: str,
    verdict: str,
    note: str = "",
    *,
    reviewer: str = "",
    db: str | Path | None = None,
) -> Verdict:
    """Store a verdict ("duplicate" or "distinct") on a pair of paintings (``pair`` from
    :func:`artextract.analysis.duplicates.pair_key`); it supersedes any earlier one on that pair."""
    if verdict not in PAIR_VERDICTS:
        raise ReviewError(f"unknown verdict {verdict!r}; use one of {', '.join(PAIR_VERDICTS)}")
    if not str(pair).strip():
        raise ReviewError("a verdict needs a pair of paintings")
    note, reviewer = _checked(bundle_name, note, reviewer)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    v = Verdict(str(pair), str(bundle_name), verdict, note, created, reviewer)
    with _connect(db) as con:
        con.execute(
            "INSERT INTO pair_verdicts (pair, bundle, verdict, note, reviewer, created) VALUES (?, ?, ?, ?, ?, ?)",
            (v.painting_id, v.bundle, v.verdict, v.note, v.reviewer, v.created),
        )
    return v


def pair_verdict_map(bundle_name: str, *, db: str | Path | None = None) -> dict[str, str]:
    """``{pair: current verdict}`` for one bundle."""
    sql = (
        "SELECT pair, verdict FROM pair_verdicts v WHERE bundle = ? AND seq = (SELECT MAX(seq) FROM "
        "pair_verdicts w WHERE w.bundle = v.bundle AND w.pair = v.pair)"
    )
    with _connect(db) as con:
        return dict(con.execute(sql, (bundle_name,)).fetchall())


def list_verdicts(
    bundle_name: str | None = None,
    *,
    latest_only: bool = True,
    db: str | Path | None = None,
) -> pd.DataFrame:
    """Verdicts as a table (columns :data:`COLUMNS`), newest first.

    ``latest_only`` keeps the current verdict per painting; ``False`` returns the whole history.
    """
    where = "WHERE bundle = ?" if bundle_name is not None else ""
    params: tuple[str, ...] = (bundle_name,) if bundle_name is not None else ()
    if latest_only:
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM verdicts v {where} "
            f"{'AND' if where else 'WHERE'} seq = (SELECT MAX(seq) FROM verdicts w "
            "WHERE w.bundle = v.bundle AND w.painting_id = v.painting_id) ORDER BY seq DESC"
        )
    else:
        sql = f"SELECT {', '.join(COLUMNS)} FROM verdicts {where} ORDER BY seq DESC"
    with _connect(db) as con:
        rows = con.execute(sql, params).fetchall()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def reviewer_map(bundle_name: str, *, db: str | Path | None = None) -> dict[str, str]:
    """``{painting_id: who made the current verdict}`` for one bundle ("" for verdicts from before names)."""
    df = list_verdicts(bundle_name, db=db)
    return dict(zip(df["painting_id"], df["reviewer"], strict=True))


def verdict_map(bundle_name: str, *, db: str | Path | None = None) -> dict[str, str]:
    """``{painting_id: current verdict}`` for one bundle."""
    df = list_verdicts(bundle_name, db=db)
    return dict(zip(df["painting_id"], df["verdict"], strict=True))


def export_csv(
    path: str | Path | None = None,
    *,
    bundle_name: str | None = None,
    latest_only: bool = True,
    db: str | Path | None = None,
) -> str:
    """Verdicts as CSV text; also written atomically to ``path`` when one is given."""
    buf = io.StringIO()
    from .text import csv_text

    buf.write(csv_text(list_verdicts(bundle_name, latest_only=latest_only, db=db)))
    text = buf.getvalue()
    if path is not None:
        from .fileio import write_text_atomic

        write_text_atomic(path, text)
    return text
