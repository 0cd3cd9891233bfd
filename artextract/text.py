"""Catalog text shown or exported safely: Markdown escaped, links only for http(s), CSV cells that a
spreadsheet would run as formulas neutralised. Plain functions, no streamlit."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

_WJ = "\u2060"  # WORD JOINER: zero-width, no line break
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~$:])")
_MD_LEADING = re.compile(r"^(\d+)([.)])|^([-=])")  # a list item or setext underline at the start
#: a cell a spreadsheet would evaluate (OWASP's list): =, +, -, @, tab, carriage return
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md_escape(text: object) -> str:
    """``text`` for ``st.markdown``: every Markdown/HTML-significant character escaped, newlines as spaces.

    A title like ``[recto]`` or ``_Nocturne_`` then shows as written, and a catalog row cannot embed an
    image (``![](https://...)``), a link or HTML.
    """
    s = "" if text is None else str(text)
    s = " ".join(s.split())  # no line breaks: a title cannot start a list, heading or block
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = _MD_LEADING.sub(lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", s)
    # GitHub-flavoured Markdown also turns bare "https://...", "www...." and "a@b.c" into links, after
    # escapes are resolved: an invisible word joiner breaks those patterns without changing what shows
    return s.replace("\\:", "\\:" + _WJ).replace("www", "w" + _WJ + "ww").replace("@", "@" + _WJ)


def safe_url(url: object) -> str:
    """``url`` when it is an absolute http(s) URL without spaces or Markdown-breaking characters, else ``""``."""
    s = "" if url is None else str(url).strip()
    if not re.match(r"^https?://[^\s<>()\[\]\"'`]+$", s):
        return ""
    return s


def csv_cell(value: object) -> object:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe; other values unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell passed through :func:`csv_cell` (column names too)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(csv_cell)
    out.columns = [csv_cell(str(c)) for c in out.columns]
    return out


def csv_text(df: pd.DataFrame) -> str:
    """``df`` as CSV for a spreadsheet: formula cells neutralised, CRLF rows (so a cell holding a carriage
    return or a newline is quoted and stays one cell)."""
    return csv_safe(df).to_csv(index=False, lineterminator="\r\n")


def slugify(name: str) -> str:
    """``Pierre-Auguste Renoir`` -> ``pierre-auguste-renoir`` (accents folded, as WikiArt's file names):
    how an artist's name and a class label are compared (``Salvador Dalí`` matches ``Salvador_Dali``)."""
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")
