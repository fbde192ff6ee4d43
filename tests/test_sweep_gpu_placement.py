"""Fractional GPUs: the sweep asks Ray for ``--gpus-per-trial`` per trial, and Ray places 1, 2 and 4
trials on one GPU as asked; a GPU request still never runs on CPU.

Ray runs here as a node with one GPU and no CUDA (``ray.init(num_gpus=1)``, what ``ray start
--num-gpus=1`` gives a machine without one): Ray schedules by its logical GPU resource, so the
placement is Ray's real one. What runs in the placed trials is a probe with the sweep's resource
request (the sweep's own trials would refuse to start without CUDA, which the last test checks).
"""
from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray")

SPEC = {"name": "gpu", "space": "nb201", "method": "random_search", "seeds": [0], "grid": [{"top_k": k} for k in (1, 2, 3, 4)]}


@pytest.fixture(scope="module")
def one_gpu_node():
    ray.init(address="local", num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    assert ray.cluster_resources().get("GPU") == 1
    yield
    ray.shutdown()


def _requested(tmp_path, monkeypatch, gpus: float):
    """What the sweep (command line -> run_sweep -> trainable) asks Ray for, without running trials."""
    from nar_core.sweep import runner, sweep_main, trainable

    seen = {}
    original = trainable.make_trainable

    def spy(benchmark, sweep, **kw):
        seen["extra"], seen["kw"] = dict(sweep["extra"]), kw
        return original(benchmark, sweep, **kw)

    class NoRun:
        def fit(self):
            return None

    def capture(spec, options, folder, t, callbacks, searcher, todo, remaining):
        seen["trainable"], seen["trials"] = t, len(todo)
        return NoRun()

    monkeypatch.setattr(trainable, "make_trainable", spy)
    monkeypatch.setattr(runner, "_make_tuner", capture)
    spec = tmp_path / f"spec{gpus}.yaml"
    spec.write_text(json.dumps(SPEC))
    sweep_main({}, ["--spec", str(spec), "--local", "--quick", "--gpus-per-trial", str(gpus), "--cpus-per-trial",
                    "0.5", "--storage", str(tmp_path / f"runs{gpus}"), "-q"], prog="sweep")
    monkeypatch.undo()
    return seen


def _max_overlap(spans) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = best = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


@pytest.mark.parametrize("gpus,per_gpu", [(1.0, 1), (0.5, 2), (0.25, 4)])
def test_ray_places_trials_per_gpu_as_the_sweep_asks(one_gpu_node, tmp_path, monkeypatch, gpus, per_gpu):
    from ray import tune

    seen = _requested(tmp_path, monkeypatch, gpus)
    assert seen["kw"] == {"cpus_per_trial": 0.5, "gpus_per_trial": gpus} and seen["trials"] == 4
    assert seen["extra"]["device"] == "cuda"  # the trials run on CUDA or not at all
    request = seen["trainable"].default_resource_request({})
    assert request.bundles == [{"CPU": 0.5, "GPU": gpus}]
    # Ray's placement of four trials with exactly that request on the one GPU

    def _probe(config):  # defined here: Ray ships it by value (a test module is not importable in workers)
        import math
        import os
        import time

        import ray
        from ray import tune

        # a barrier, not a sleep: each probe waits (up to 60 s) until its whole wave of per_gpu probes
        # has started, so the overlap shows what Ray placed at once, however slowly a loaded machine
        # starts trial processes; Ray placing fewer at once makes the wave time out with less overlap
        start = time.time()
        folder, k = config["dir"], config["per_gpu"]
        open(os.path.join(folder, f"{config['i']}.started"), "w").close()
        here = len(os.listdir(folder))
        wave = min(4, math.ceil(here / k) * k)
        while len(os.listdir(folder)) < wave and time.time() - start < 60:
            time.sleep(0.05)
        time.sleep(0.5)
        tune.report({"start": start, "end": time.time(), "gpu_ids": [str(g) for g in ray.get_gpu_ids()]})

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    probe = tune.with_resources(_probe, request)
    tuner = tune.Tuner(probe, param_space={"i": tune.grid_search([0, 1, 2, 3]), "dir": str(barrier),
                                           "per_gpu": per_gpu},
                       run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), name=f"probe{gpus}", verbose=0))
    results = tuner.fit()
    rows = [r.metrics for r in results]
    assert len(rows) == 4 and all(r["gpu_ids"] == ["0"] for r in rows), rows  # every trial on GPU 0
    assert _max_overlap([(r["start"], r["end"]) for r in rows]) == per_gpu


def test_a_gpu_request_fails_without_cuda_instead_of_running_on_cpu(one_gpu_node, tmp_path):
    import torch

    from nar_core.sweep import SweepOptions, SweepSpec, run_sweep

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the trials would run on it")
    spec = SweepSpec.from_dict({**SPEC, "method": "narq2t", "grid": [{"top_k": 1}]})
    out = run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, local=True, gpus_per_trial=0.5,
                                       max_failures=0, verbose=0))
    df = out.table
    assert out.failed == 1 and (df.status == "failed").all()
    assert df.error.str.contains("'cuda' requested but CUDA is not available").all(), df.error.tolist()
