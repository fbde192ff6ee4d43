"""docs/search_spaces.md: the guide's plug-in, taken from the page itself, passes ``nar space check``
and runs; a plug-in that breaks a rule the guide states fails the check that names it."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nar_core.cli import main
from nar_core.spaces import get_space, register_space, unregister_space

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "search_spaces.md"
NAME = "guide_chain"


def guide_module() -> types.ModuleType:
    """The guide's first code block (the whole plug-in) as a module, its space named NAME."""
    code = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)[0]
    assert "register_space(ChainSpace())" in code
    code = code.replace('name = "chain"', f'name = "{NAME}"').replace('"chain_accuracy.csv"', f'"{NAME}.csv"')
    mod = types.ModuleType("guide_chain_plugin")
    sys.modules[mod.__name__] = mod
    exec(compile(code, str(GUIDE), "exec"), mod.__dict__)
    return mod


@pytest.fixture(scope="module")
def guide():
    mod = guide_module()
    yield mod
    unregister_space(NAME)


def write_data(space, folder: Path, scale: float = 1.0, duplicate: bool = False) -> Path:
    ops = np.array([[int(c) for c in np.base_repr(i, 4).zfill(5)] for i in range(space.num_cells)], np.int8)
    counts = space.op_counts({"ops": ops})
    rng = np.random.default_rng(0)
    base = 60 + 6 * counts[:, 3] + 3 * counts[:, 2] + counts[:, 1] - 8 * counts[:, 0]
    frame = pd.DataFrame({"arch": [space.format({"ops": ops}, i) for i in range(len(ops))],
                          "toy10_val": np.clip(base + rng.normal(0, 1.5, len(ops)), 0, 100).round(3) * scale,
                          "toy10_test": np.clip(base + rng.normal(0, 1.5, len(ops)), 0, 100).round(3) * scale})
    if duplicate:
        frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    (folder / NAME).mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / NAME / f"{NAME}.csv", index=False)
    return folder


def test_the_guides_plugin_passes_the_check_and_runs(guide, tmp_path, capsys):
    from nar_core import ExperimentConfig
    from nar_core.benchmarks import load_benchmark
    from nar_core.experiment import run_experiment

    data = write_data(get_space(NAME), tmp_path)
    assert main(["space", "check", NAME, "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "8 passed, 0 failed" in out and "equal to toy10_flops, toy10_params" in out
    bench = load_benchmark(NAME, data)
    cfg = ExperimentConfig.for_space(NAME, method="narq2t", seed=0, d_model=16, d_ff=32, n_heads=2, encoder_layers=1,
                                     decoder_layers=1, epochs=3, num_threads=1)
    res = run_experiment(cfg, bench)
    assert res.space == NAME and res.queries_total > cfg.train_size + cfg.val_size


def test_an_encoding_scaled_by_its_batch_fails_the_check(guide, tmp_path, capsys):
    class BatchScaled(guide.ChainSpace):  # the guide's example before issue 21
        name = "guide_chain_batch"

        def encode(self, cells, dataset, normalize=True):
            ops = np.asarray(cells["ops"], dtype=np.float32)
            flops, params = self._edge_costs(cells)
            out = np.zeros((len(ops), *self.feature_shape), dtype=np.float32)
            i = np.arange(5)
            out[:, 0, i, i + 1] = ops / 3
            out[:, 1, i, i + 1] = flops / (flops.max() if normalize and flops.max() else 1)
            out[:, 2, i, i + 1] = params / (params.max() if normalize and params.max() else 1)
            return out

    from nar_core.benchmarks import load_benchmark
    from nar_core.spaces.check import check_space

    bench = load_benchmark(NAME, write_data(get_space(NAME), tmp_path))
    checks = {c.name: c for c in check_space(BatchScaled(), bench)}
    assert not checks["batch independence"].passed
    assert "never by the batch's own maximum" in checks["batch independence"].detail
    assert all(c.passed for n, c in checks.items() if n != "batch independence")


def test_fractions_fail_the_values_check(guide, tmp_path, capsys):
    data = write_data(get_space(NAME), tmp_path, scale=0.01)
    code = main(["space", "check", NAME, "--data", str(data)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2 and "multiply the column by 100" in text, text  # refused on load, naming the fix


def test_an_unknown_space_is_bad_input(capsys):
    assert main(["space", "check", "nb2O1"]) == 2
    assert "nb201" in capsys.readouterr().err


def test_a_plugin_named_in_NAR_SPACES_needs_no_install(guide, tmp_path):
    """The guide's route without a package: the module on PYTHONPATH, named in NAR_SPACES, is found
    by a fresh `nar` process; a malformed entry is bad input that names the expected form."""
    import os
    import subprocess

    code = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)[0]
    code = code.replace('name = "chain"', 'name = "envchain"').replace('"chain_accuracy.csv"', f'"{NAME}.csv"')
    (tmp_path / "envchain_plugin.py").write_text(code)
    data = write_data(get_space(NAME), tmp_path / "data")
    (tmp_path / "data" / NAME).rename(tmp_path / "data" / "envchain")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NAR_SPACES": "envchain=envchain_plugin:ChainSpace"}
    nar = [sys.executable, "-m", "nar_core.cli"]
    ok = subprocess.run(nar + ["space", "check", "envchain", "--data", str(data)], env=env, capture_output=True,
                        text=True, timeout=300)
    assert ok.returncode == 0 and "8 passed, 0 failed" in ok.stdout, ok.stdout + ok.stderr
    bad = subprocess.run(nar + ["space", "list"], env={**env, "NAR_SPACES": "envchain_plugin.ChainSpace"},
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "NAR_SPACES" in bad.stderr and "name=module:Class" in bad.stderr, bad.stderr
