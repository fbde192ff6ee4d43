"""Precision as a setting (issue 18): fp32 by default, bf16 autocast on the CPU, tf32 only on CUDA;
recorded in the config (and so in every result row and its config hash)."""
import pytest
import torch

from nar_core.config import ExperimentConfig
from nar_core.errors import ConfigError
from nar_core.experiment import config_hash
from nar_core.ranker.precision import autocast

TINY = dict(train_size=128, val_size=32, d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1,
            epochs=2, batch_size=32, sample_size=32, search_iterations=2, num_threads=1)


@pytest.fixture(scope="module")
def bench():
    from nar_core.benchmarks import load_benchmark

    return load_benchmark("nb201")


def test_precision_is_validated_and_part_of_the_config_hash():
    cfg = ExperimentConfig.for_space("nb201")
    assert cfg.precision == "fp32"
    assert config_hash(cfg) != config_hash(cfg.replace(precision="bf16"))
    with pytest.raises(ConfigError, match="precision: must be one of fp32, bf16, tf32"):
        cfg.replace(precision="fp16")


def test_bf16_runs_the_forward_pass_in_bfloat16_and_is_deterministic(bench):
    from nar_core.experiment import build_ranker, run_experiment

    cfg = ExperimentConfig.for_space("nb201", seed=2, precision="bf16", **TINY)
    model = build_ranker(cfg, (31, 4, 4), seed=0)
    with autocast("bf16", "cpu"):
        out = model(torch.randn(4, 31, 4, 4))
        projected = model.patch_proj(torch.randn(1, 4, 31, 16))
    # the matrix products run in bfloat16 (LayerNorm, and maps to a few outputs such as the score,
    # a product and a sum, stay in float32 as autocast keeps them), the weights stay float32
    assert projected.dtype == torch.bfloat16 and next(model.parameters()).dtype == torch.float32
    assert out.score.dtype == torch.float32
    a, b = run_experiment(cfg, bench), run_experiment(cfg, bench)
    assert (a.found_key, a.test_acc, a.kendall_tau, a.tier_accuracy) == (b.found_key, b.test_acc, b.kendall_tau,
                                                                          b.tier_accuracy)
    fp32 = run_experiment(cfg.replace(precision="fp32"), bench)
    assert fp32.kendall_tau != a.kendall_tau  # another arithmetic, another (close) result
    assert abs(fp32.kendall_tau - a.kendall_tau) < 0.2


def test_tf32_is_refused_on_the_cpu(bench):
    from nar_core.experiment import run_experiment

    with pytest.raises(ConfigError, match="tf32 exists only on CUDA"):
        run_experiment(ExperimentConfig.for_space("nb201", precision="tf32", **TINY), bench)


def test_the_precision_analysis_pairs_seeds_and_judges_the_margin(tmp_path):
    """analysis/precision.py on the committed 20 paired seeds (NARQ2T, NB201 CIFAR-10, 150 queries):
    the pairs, the intervals and the verdict the note reports; a file that is no results table is
    refused with exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = root / "analysis" / "precision.py"
    table = root / "results" / "precision" / "narq2t_nb201_cifar10_q150.csv"
    out = subprocess.run([sys.executable, str(script), str(table)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "20 seeds in both precisions" in out.stdout
    line = next(v for v in out.stdout.splitlines() if v.strip().startswith("test_acc "))
    assert "+0.023" in line and "[-0.104, +0.149]" in line and "NOT within +-0.1" in line
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "x.csv")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "not a results table" in bad.stderr
