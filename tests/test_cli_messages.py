"""Bad input to ``nar run`` and the sweep scripts: one line that says how to fix it, at once.

Each typo of a choice gets the closest choice ("did you mean"); a file where a folder belongs or
a data folder without data says what to give instead. All of it is found before torch, Ray or
pandas is imported (seconds of a newcomer's first try), checked in a fresh interpreter.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "ray", "pandas", "scipy", "pyarrow", "matplotlib")

#: each bad command line -> what its message must say
RUN_CASES = {
    "method": (["--method", "narq2"], "method: must be one of narq2t, nar, no_tier, convnet, random_search, evolution "
                                      "(got 'narq2'); did you mean 'narq2t'?"),
    "space": (["--space", "nb2O1"], "argument --space: invalid choice: 'nb2O1'; did you mean 'nb201'?"),
    "dataset": (["--dataset", "cifar1O"], "unknown dataset 'cifar1O' for space nb201; expected one of cifar10, "
                                          "cifar100, imagenet16; did you mean 'cifar10'?"),
    "preset": (["--preset", "autors"], "argument --preset: invalid choice: 'autors'; did you mean 'authors'?"),
    "budget": (["--budget", "149"], "argument --budget: invalid choice: 149; did you mean 150?"),
    "set": (["--set", "pooling=flaten"], "pooling: must be one of flatten, mean (got 'flaten'); did you mean 'flatten'?"),
    "set key": (["--set", "metod=nar"], "unknown config key(s): 'metod' (did you mean 'method'?)"),
    "device": (["--device", "cpus"], "(got 'cpus'); did you mean 'cpu'?"),
    "seeds": (["--seeds", "3-1"], "seeds: range 3-1 is descending; write 1-3"),
}


def _fresh(code: str, tmp_path: Path) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object, here returned."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_nar_run_answers_bad_input_with_the_fix_before_heavy_imports(tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    (tmp_path / "empty").mkdir()
    cases = {name: args + ["--out", str(tmp_path / "out")] for name, (args, _) in RUN_CASES.items()}
    cases["out is a file"] = ["--out", str(tmp_path / "afile")]
    cases["empty data folder"] = ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]
    got = _fresh(f"""
        import contextlib, io, json, sys, time
        from nar_core.cli import main
        out = {{}}
        for name, args in {cases!r}.items():
            err = io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(err):
                try:
                    rc = main(["run", *args])
                except SystemExit as exc:  # argparse
                    rc = exc.code
            out[name] = [rc, err.getvalue().strip().splitlines()[-1], time.perf_counter() - t0]
        print(json.dumps({{"cases": out, "imported": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """, tmp_path)
    assert got["imported"] == []  # every case answered before torch, Ray, pandas, SciPy
    for name, (_, message) in RUN_CASES.items():
        rc, line, seconds = got["cases"][name]
        assert rc == 2 and message in line and line.startswith("nar run: error: "), (name, line)
        assert seconds < 1.0, (name, seconds)
    rc, line, _ = got["cases"]["out is a file"]
    assert rc == 2 and "is a file, not a directory" in line and f"give a new or existing folder (e.g. --out " \
        f"{tmp_path / 'afile_runs'}), or move the file away" in line
    rc, line, _ = got["cases"]["empty data folder"]
    assert rc == 2 and "no nb201 data found: the folder is empty" in line
    assert "point --data (or NAR_DATA) at the folder or file that holds it" in line
    assert not (tmp_path / "out").exists() and (tmp_path / "afile").read_text() == "mine\n"


def test_an_unknown_command_names_the_closest(capsys):
    from nar_core.cli import main

    with pytest.raises(SystemExit):
        main(["rn"])
    assert "invalid choice: 'rn'; did you mean 'run'?" in capsys.readouterr().err


def test_sweep_scripts_answer_typos_with_the_closest_choice_before_heavy_imports(tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    cases = {
        "mode": (["--mode", "gird"], "argument --mode: invalid choice: 'gird'; did you mean 'grid'?"),
        "table": (["--table", "rank_cifar1"], "argument --table: invalid choice: 'rank_cifar1'; did you mean 'rank_cifar10'?"),
        "space": (["--space", "nb2O1"], "did you mean 'nb201'?"),
        "preset": (["--preset", "autors"], "did you mean 'authors'?"),
        "budget": (["--budget", "149"], "did you mean 150?"),
        "dataset": (["--local", "--dataset", "cifar1O", "--dry-run"], "did you mean 'cifar10'?"),
        "method": (["--local", "--set", "method=narq2", "--dry-run"], "(got 'narq2'); did you mean 'narq2t'?"),
        "storage": (["--local", "--storage", str(tmp_path / "afile")], "is a file, not a directory; --storage names a "
                                                                       "folder for the result tables"),
    }
    got = _fresh(f"""
        import contextlib, io, json, sys
        from nar_core.ablations import script_specs
        from nar_core.sweep import sweep_main
        out = {{}}
        for name, (args, _) in {cases!r}.items():
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                try:
                    rc = sweep_main(script_specs("loss_factors"), args, prog="sweeps/loss_factors.py")
                except SystemExit as exc:
                    rc = exc.code
            out[name] = [rc, err.getvalue().strip().splitlines()[-1]]
        print(json.dumps({{"cases": out, "imported": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """, tmp_path)
    assert got["imported"] == []
    for name, (_, message) in cases.items():
        rc, line = got["cases"][name]
        assert rc == 2 and message in line and line.startswith("sweeps/loss_factors.py: error: "), (name, line)
    assert (tmp_path / "afile").read_text() == "mine\n"
