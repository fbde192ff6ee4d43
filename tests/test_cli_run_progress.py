"""``nar run``: progress bars on a terminal, plain log lines otherwise; --help lists the allowed values, no markup."""
from __future__ import annotations

import re
import sys

import pytest

from nar_core.cli import build_parser, main

TINY = ["--set", "num_threads=1", "--set", "train_size=64", "--set", "val_size=16", "--set", "d_model=16",
        "--set", "n_heads=2", "--set", "d_ff=32", "--set", "encoder_layers=1", "--set", "decoder_layers=1",
        "--set", "epochs=2", "--set", "batch_size=32", "--set", "sample_size=32", "--set", "search_iterations=3"]


def _run(tmp_path, *extra):
    return main(["run", "--method", "narq2t", "--seeds", "0-1", "--out", str(tmp_path / "out"), *TINY, *extra])


def test_not_a_terminal_gives_plain_log_lines(tmp_path, capsys, caplog):
    with caplog.at_level("INFO", logger="nar.run"):
        assert _run(tmp_path) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "seed/s" not in err and "epoch" not in err  # no bars in a log file
    messages = [r.getMessage() for r in caplog.records if r.name == "nar.run"]
    assert any(m.startswith("narq2t on nb201 cifar10: 2 seed(s) 0-1") for m in messages)
    assert any(re.fullmatch(r"seed 0 done \(1/2\), about \d+ s left", m) for m in messages)
    assert any(m == "seed 1 done (2/2)" for m in messages)


def test_a_terminal_gets_seed_epoch_and_search_bars(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _run(tmp_path) == 0
    err = capsys.readouterr().err
    assert re.search(r"narq2t cifar10: 100%.*2/2 .*seed", err)  # seeds, with tqdm's elapsed<remaining
    assert "train narq2t seed 1" in err and "epoch" in err
    assert "search narq2t seed 1" in err and "best_val=" in err
    assert not (tmp_path / "plain").exists()
    assert main(["run", "--method", "random_search", "--seeds", "0", "--out", str(tmp_path / "plain"),
                 "--no-progress", *TINY]) == 0
    assert "\r" not in capsys.readouterr().err  # --no-progress wins over the terminal


def test_help_lists_allowed_values_without_markup(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and ":class:" not in out
    assert re.search(r"--space\s+nb201, nb101", out)
    assert "nb201: cifar10, cifar100, imagenet16; nb101: cifar10" in out
    assert "narq2t, nar, no_tier, convnet, random_search, evolution" in out


def test_sweep_help_is_plain_and_lists_allowed_values():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "sweeps/tiers.py", "--help"], cwd=root, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "--budget 150 runs its grid" in out and "--space nb101" in out and "``" not in out and ":func:" not in out  # the docstring, unmarked
    assert re.search(r"^  space\s+nb201, nb101", out, re.M)
    assert re.search(r"^  method\s+narq2t, nar, no_tier, convnet, random_search, evolution", out, re.M)
