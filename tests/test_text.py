"""Catalog text shown as text, links only for http(s), CSV cells that cannot run as formulas."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from artextract.text import csv_text, md_escape, safe_url


@pytest.mark.parametrize(
    "raw",
    ["[recto]", "_Nocturne_", "![pixel](https://tracker.example/p.gif)", "[Donate](https://evil.example)",
     "<img src=x onerror=alert(1)>", "# Heading", "1. list", ":red[alarm]", "$x^2$", "a\n- b"],
)  # fmt: skip
def test_markdown_escaping_leaves_no_active_syntax(raw):
    """Every character Markdown (or Streamlit's :colour[] / $math$ extensions) acts on is backslash-escaped,
    and CommonMark's unescaping gives back the text (the browser test renders it for real)."""
    import re

    out = md_escape(raw).replace("\u2060", "")  # word joiners that break autolinks
    assert "\n" not in out
    bare = re.sub(r"\\.", "", out)  # drop escaped pairs; what is left must be inert
    assert not re.search(r"[\[\]()!_*<>#`$:|~]", bare) and not re.match(r"\d+[.)]|[-=]", bare), out
    assert re.sub(r"\\(.)", r"\1", out) == " ".join(raw.split())


def test_links_only_for_http_urls():
    assert safe_url("https://www.nga.gov/collection/art-object-page.50724.html").startswith("https://")
    for bad in (
        "javascript:alert(1)",
        "data:text/html,hi",
        "//evil.example",
        "ftp://x",
        "https://a.b/x) [y](z",
        "",
    ):
        assert safe_url(bad) == ""


def test_csv_export_neutralises_formula_cells():
    df = pd.DataFrame(
        {"title": ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "Fine"], "n": range(7)}
    )
    import csv

    rows = list(csv.reader(io.StringIO(csv_text(df), newline="")))
    titles = [r[0] for r in rows[1:]]
    assert len(titles) == 7 and all(v.startswith("'") for v in titles[:6]) and titles[6] == "Fine"
    assert [int(r[1]) for r in rows[1:]] == list(range(7))
