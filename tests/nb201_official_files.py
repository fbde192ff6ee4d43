"""Writers of small NAS-Bench-201 files in the exact official layouts (test and benchmark support).

``write_official_pth`` builds the dict the official ``NAS-Bench-201-v1_*.pth`` holds
(``meta_archs``, ``arch2infos`` with ``less``/``full`` ``ArchResults`` state dicts, whose
``all_results`` hold ``ResultsCount`` state dicts; ``evaluated_indexes``; ``total_archs``) with the
official API's own classes, for a chosen set of architectures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from nar_core.spaces.nb201.cells import NUM_CELLS, index_to_str

#: official dataset -> evaluation sets, as in the official files
OFFICIAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
SEEDS = (777, 888)


def official_accuracy(index: int, dataset: str, setname: str, seed: int, hp: str) -> float:
    """The accuracy the fixture stores: distinct per (index, dataset, set, hp); seeds differ by 1.

    In %, as the official files: 50 and up (a column of values below 1 reads as fractions, refused)."""
    d = list(OFFICIAL_SETS).index(dataset)
    s = OFFICIAL_SETS[dataset].index(setname)
    return 50.0 + 10.0 * d + 2.0 * s + 0.001 * index + (0.5 if hp == "12" else 0.0) + (1.0 if seed == SEEDS[1] else 0.0)


def official_latency(index: int, dataset: str) -> float:
    """Seconds, as the official files store it."""
    return 0.01 + 1e-6 * index + 0.001 * list(OFFICIAL_SETS).index(dataset)


def _arch_results(index: int, hp: str, epochs: int):
    from nas_201_api.api_utils import ArchResults, ResultsCount

    arch = ArchResults(index, index_to_str(index))
    for dataset, sets in OFFICIAL_SETS.items():
        for seed in SEEDS:
            result = ResultsCount(
                dataset, None, {e: 50.0 for e in range(epochs)}, {e: 1.0 for e in range(epochs)},
                0.1, 10.0, {"arch_str": index_to_str(index), "channel": 16, "num_cells": 5, "class_num": 10},
                seed, epochs, [official_latency(index, dataset)],
            )
            accs = {f"{s}@{e}": official_accuracy(index, dataset, s, seed, hp) for s in sets for e in range(epochs)}
            result.update_eval(accs, {k: 0.5 for k in accs}, {k: 0.1 for k in accs})
            arch.update(dataset, seed, result)
    return arch.state_dict()


def official_pth_dict(indices: Iterable[int], epochs: int = 2) -> dict:
    indices = [int(i) for i in indices]
    return {
        "meta_archs": index_to_str(np.arange(NUM_CELLS)),
        "arch2infos": {i: {"less": _arch_results(i, "12", epochs), "full": _arch_results(i, "200", epochs)} for i in indices},
        "evaluated_indexes": indices,
        "total_archs": NUM_CELLS,
    }


def write_official_pth(path: Path, indices: Iterable[int], epochs: int = 2) -> Path:
    import torch

    torch.save(official_pth_dict(indices, epochs), path)
    return path


def write_nats_tss_dir(folder: Path, indices: Iterable[int], epochs: int = 2) -> Path:
    """A NATS-Bench topology ``*-simple`` directory: ``meta.pickle.pbz2`` + ``<index:06d>.pickle.pbz2``."""
    from nats_bench import pickle_save

    folder.mkdir(parents=True, exist_ok=True)
    pickle_save({"meta_archs": index_to_str(np.arange(NUM_CELLS))}, str(folder / "meta.pickle"))
    for i in indices:
        i = int(i)
        pickle_save({"12": _arch_results(i, "12", epochs), "200": _arch_results(i, "200", epochs)}, str(folder / f"{i:06d}.pickle"))
    return folder
