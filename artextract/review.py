"""Curator verdicts on flagged paintings and on near-duplicate pairs, kept in SQLite so they survive
restarts.

One row per decision (``painting_id, bundle, verdict, note, reviewer, created``); a later decision on the same
painting in the same bundle supersedes the earlier one, and the history is kept. The database lives at
:func:`artextract.config.review_db_path` (``data/review.sqlite``) unless a path is given. Every call
opens its own short-lived connection, so the store is safe to use from several app sessions (threads)
and processes at once; WAL mode lets readers proceed while a verdict is being written.
"""

from __future__ import annotations

import functools
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

#: Verdicts on a pair of near duplicates (Duplicates page).
PAIR_VERDICTS: tuple[str, ...] = ("duplicate", "distinct")
_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    {column} TEXT NOT NULL,
    bundle TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ({allowed})),
    note TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    reviewer TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS {index} ON {table} (bundle, {column}, seq);
"""
#: One table per kind of verdict, the same columns (``verdicts`` as it always was).
_SCHEMA = "".join(
    _TABLE.format(table=t, column=c, allowed=", ".join(f"'{v}'" for v in vs), index=i)
    for t, c, vs, i in (
        ("verdicts", "painting_id", VERDICTS, "verdicts_by_painting"),
        ("pair_verdicts", "pair", PAIR_VERDICTS, "pair_verdicts_by_pair"),
    )
)


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


#: What a verdict is about: its table, the column naming the subject, the verdicts allowed, and what a
#: verdict without a subject lacks.
KINDS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "painting": ("verdicts", "painting_id", VERDICTS, "a painting id"),
    "pair": ("pair_verdicts", "pair", PAIR_VERDICTS, "a pair of paintings"),
}


def record(
    painting_id: str,
    bundle_name: str,
    verdict: str,
    note: str = "",
    *,
    reviewer: str = "",
    db: str | Path | None = None,
    kind: str = "painting",
) -> Verdict:
    """Store a curator's verdict on one painting (or, with ``kind="pair"``, on a pair of paintings: see
    :data:`record_pair`); it supersedes any earlier one on the same subject.

    ``reviewer``: who made it (the app asks each browser session for a name and records nothing without one).
    """
    table, column, allowed, what = KINDS[kind]
    if verdict not in allowed:
        raise ReviewError(f"unknown verdict {verdict!r}; use one of {', '.join(allowed)}")
    if not str(painting_id).strip():
        raise ReviewError(f"a verdict needs {what}")
    if not str(bundle_name).strip():
        raise ReviewError("a verdict needs the name of the bundle it was made in")
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"note is {len(note)} characters; keep it under {MAX_NOTE_CHARS}")
    reviewer = " ".join(str(reviewer or "").split())
    if len(reviewer) > MAX_REVIEWER_CHARS:
        raise ReviewError(f"reviewer name is {len(reviewer)} characters; keep it under {MAX_REVIEWER_CHARS}")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    v = Verdict(str(painting_id), str(bundle_name), verdict, note, created, reviewer)
    with _connect(db) as con:
        con.execute(
            f"INSERT INTO {table} ({column}, bundle, verdict, note, reviewer, created) VALUES (?, ?, ?, ?, ?, ?)",
            (v.painting_id, v.bundle, v.verdict, v.note, v.reviewer, v.created),
        )
    return v


#: Store a verdict ("duplicate" or "distinct") on a pair of paintings (the key from
#: :func:`artextract.analysis.duplicates.pair_key`): ``record_pair(pair, bundle, verdict, note, reviewer=, db=)``.
record_pair = functools.partial(record, kind="pair")


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
