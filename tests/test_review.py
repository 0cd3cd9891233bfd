import subprocess
import sys

import pandas as pd
import pytest

from artextract import review


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "sub" / "review.sqlite"


def test_record_and_list_latest_verdict_wins(db):
    review.record("p1", "demo", "confirmed", "wrong artist", db=db)
    review.record("p2", "demo", "dismissed", db=db)
    review.record("p1", "demo", "dismissed", "on second look it is fine", db=db)
    review.record("p1", "other", "confirmed", db=db)

    latest = review.list_verdicts("demo", db=db)
    assert list(latest.columns) == list(review.COLUMNS)
    assert sorted(latest["painting_id"]) == ["p1", "p2"]
    assert review.verdict_map("demo", db=db) == {"p1": "dismissed", "p2": "dismissed"}
    assert review.verdict_map("other", db=db) == {"p1": "confirmed"}
    history = review.list_verdicts("demo", latest_only=False, db=db)
    assert len(history) == 3
    assert history["note"].iloc[0] == "on second look it is fine"  # newest first


def test_verdicts_survive_a_new_process(db):
    review.record("p9", "demo", "confirmed", "planted", db=db)
    code = f"from artextract import review; print(review.verdict_map('demo', db={str(db)!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'p9': 'confirmed'" in out


def test_default_location_follows_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path))
    review.record("x", "demo", "dismissed")
    assert (tmp_path / "review.sqlite").is_file()
    assert review.verdict_map("demo") == {"x": "dismissed"}


@pytest.mark.parametrize(
    ("pid", "bundle", "verdict", "match"),
    [
        ("p1", "demo", "maybe", "confirmed, dismissed"),
        ("", "demo", "confirmed", "painting id"),
        ("p1", " ", "confirmed", "bundle"),
    ],
)
def test_bad_verdicts_are_refused_with_the_valid_choices(db, pid, bundle, verdict, match):
    with pytest.raises(review.ReviewError, match=match):
        review.record(pid, bundle, verdict, db=db)
    assert review.list_verdicts(db=db).empty


def test_overlong_note_is_refused(db):
    with pytest.raises(review.ReviewError, match="characters"):
        review.record("p1", "demo", "confirmed", "x" * (review.MAX_NOTE_CHARS + 1), db=db)


def test_export_csv_round_trips(db, tmp_path):
    review.record("p1", "demo", "confirmed", 'a note, with "quotes"\nand a newline', db=db)
    review.record("p2", "demo", "dismissed", db=db)
    out = tmp_path / "verdicts.csv"
    text = review.export_csv(out, bundle_name="demo", db=db)
    assert out.read_bytes().decode("utf-8") == text  # CRLF rows, as spreadsheets expect
    df = pd.read_csv(out, keep_default_na=False)
    assert set(df["painting_id"]) == {"p1", "p2"}
    assert df.set_index("painting_id").loc["p1", "note"] == 'a note, with "quotes"\nand a newline'


def test_corrupt_database_is_one_clear_error(tmp_path):
    bad = tmp_path / "review.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(review.ReviewError, match="unusable"):
        review.list_verdicts(db=bad)


def test_verdicts_record_their_reviewer_and_old_databases_migrate(tmp_path):
    import sqlite3

    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.executescript(
        "CREATE TABLE verdicts (seq INTEGER PRIMARY KEY AUTOINCREMENT, painting_id TEXT NOT NULL, "
        "bundle TEXT NOT NULL, verdict TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', created TEXT NOT NULL);"
        "INSERT INTO verdicts (painting_id, bundle, verdict, note, created) VALUES ('p0', 'demo', 'dismissed', '', 'x');"
    )
    con.commit()
    con.close()
    review.record("p1", "demo", "confirmed", reviewer="  Ana   Reviewer ", db=old)
    df = review.list_verdicts("demo", db=old).set_index("painting_id")
    assert df.loc["p1", "reviewer"] == "Ana Reviewer" and df.loc["p0", "reviewer"] == ""
    assert review.reviewer_map("demo", db=old) == {"p1": "Ana Reviewer", "p0": ""}
    with pytest.raises(review.ReviewError, match="reviewer name"):
        review.record("p2", "demo", "confirmed", reviewer="x" * 200, db=old)
