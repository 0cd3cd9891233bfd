"""The command-line contract that scripts rely on (issue 2, item 6)."""

import json

from artextract.cli import main


def _images(tiny_demo, n=2):
    from artextract.catalog import read_catalog

    cat = read_catalog(tiny_demo["collection"])
    return [str(tiny_demo["collection"] / p) for p in cat["image"].head(n)]


def test_classify_json_gives_top3_per_head(tiny_demo, tiny_checkpoints, capsys):
    imgs = _images(tiny_demo)
    assert main(["classify", *imgs, "--checkpoint", str(tiny_checkpoints["classifier"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in out] == imgs
    for r in out:
        for head in ("style", "artist", "genre"):
            probs = [t["prob"] for t in r[head]]
            assert len(probs) == 3 and probs == sorted(probs, reverse=True)


def test_bad_image_gets_one_line_and_good_ones_still_answer(tiny_demo, tiny_checkpoints, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    good = _images(tiny_demo, 1)
    code = main(["classify", str(bad), *good, "--checkpoint", str(tiny_checkpoints["classifier"]), "--json"])
    captured = capsys.readouterr()
    assert code != 0
    err_lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(err_lines) == 1 and "broken.jpg" in err_lines[0]
    assert [r["image"] for r in json.loads(captured.out)] == good


def test_similar_lists_reference_paintings(tiny_demo, tiny_bundle, capsys):
    img = str(
        tiny_demo["reference"] / "images" / sorted((tiny_demo["reference"] / "images").iterdir())[0].name
    )
    assert main(["similar", img, "--k", "3", "--bundle", str(tiny_bundle), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and {"id", "title", "artist", "score"} <= set(hits[0])
    assert hits[0]["score"] >= hits[-1]["score"]


def test_missing_bundle_is_one_clear_line(tmp_path, capsys):
    code = main(["similar", "x.jpg", "--bundle", str(tmp_path / "none")])
    assert code == 2
    assert "no artifact bundle" in capsys.readouterr().err


def test_models_json_lists_registry(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"rla_resnet50", "resnet50", "rla_resnet_demo"} <= set(rows)
    # the RLA-Net paper's 24.67 "M" parameters are counted in units of 2**20
    assert abs(rows["rla_resnet50"]["params"] / 2**20 - 24.67) < 0.05


def test_app_binds_localhost_by_default_and_warns_when_shared(monkeypatch, capsys):
    import subprocess

    from artextract import cli

    seen = {}
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: seen.setdefault("cmd", cmd) and 0)
    assert cli.main(["app", "--port", "8599"]) == 0
    cmd = seen.pop("cmd")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.enableXsrfProtection") + 1] == "true"
    assert "warning" not in capsys.readouterr().err
    assert cli.main(["app", "--host", "0.0.0.0"]) == 0
    assert seen["cmd"][seen["cmd"].index("--server.address") + 1] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning" in err and "no login" in err


def test_classify_uses_the_open_set_gate_beside_the_checkpoint(tiny_demo, tiny_checkpoints, tmp_path, capsys):
    """A gate that stops every painting: the artist line names none; a broken gate is reported in one line
    and the labels still come."""
    import shutil

    import numpy as np

    from artextract.analysis.open_set import GATE_WEIGHTS, OpenSetGate, save_gate
    from artextract.nets.checkpoint import read_card

    ckpt = tmp_path / "classifier"
    shutil.copytree(tiny_checkpoints["classifier"], ckpt)
    card = read_card(ckpt)
    classes = card["heads"]["artist"]
    gate = OpenSetGate("artist", tuple(classes), np.zeros(card["embedding_dim"], np.float32), -5.0, 0.5,
                       {"format": "artextract-open-set/1", "attribute": "artist", "classes": classes,
                        "threshold": 0.5})  # fmt: skip
    save_gate(ckpt, gate, card["weights_sha256"])
    imgs = _images(tiny_demo, 1)
    assert main(["classify", *imgs, "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert f"artist  none of the {len(classes)} artists it knows; closest: " in out
    assert main(["classify", *imgs, "--checkpoint", str(ckpt), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["artist_open_set"]["by_one_it_knows"] is False and len(row["artist"]) == 3
    (ckpt / GATE_WEIGHTS).write_bytes(b"not a safetensors file")
    assert main(["classify", *imgs, "--checkpoint", str(ckpt)]) == 0
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.strip()]
    assert len(err) == 1 and "open-set check not used" in err[0]
    assert "none of the" not in captured.out and "artist " in captured.out


def test_no_page_leaves_a_bare_expression_for_streamlits_magic():
    """The app is served without Streamlit's magic (``runner.magicEnabled = false``): a bare expression in
    a page (a name, a string, a conditional expression) would have been written on the page by it and is
    now dropped in silence, so no page may hold one; calls and docstrings were never written by magic."""
    import ast

    from artextract.config import PROJECT_ROOT

    found = []
    for path in [PROJECT_ROOT / "app.py", *sorted((PROJECT_ROOT / "pages").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if not isinstance(body, list):
                    continue
                for i, stmt in enumerate(body):
                    if not isinstance(stmt, ast.Expr) or isinstance(stmt.value, (ast.Call, ast.Await)):
                        continue
                    docstring = (
                        i == 0
                        and field == "body"
                        and isinstance(
                            node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
                        )
                        and isinstance(stmt.value, ast.Constant)
                        and isinstance(stmt.value.value, str)
                    )
                    if not docstring:
                        found.append(f"{path.name}:{stmt.lineno}")
    assert found == []


def test_the_app_is_served_without_watching_its_source_files():
    """Streamlit's file watcher walks every imported module for each new browser session (about a second
    before Explore's map on a fresh page load), and its forced garbage collection after every run holds
    the interpreter for about 0.2 s before a run's last messages go out; the project's config turns both
    off for ``artextract app`` and ``streamlit run app.py`` alike (both start from the project root, where
    the config is read)."""
    import tomllib

    from artextract import cli
    from artextract.config import PROJECT_ROOT

    conf = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["server"]["fileWatcherType"] == "none"
    assert conf["runner"]["postScriptGC"] is False
    assert conf["runner"]["magicEnabled"] is False
    assert conf["server"]["enableXsrfProtection"] is True
    cmd = cli.app_command(cli.get_parser().parse_args(["app"]))
    # nothing on the command line overrides the config
    assert "--server.fileWatcherType" not in cmd and "--runner.postScriptGC" not in cmd
