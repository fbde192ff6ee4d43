"""What ``nar run`` and every ``sweeps/*.py`` script parse the same way: seeds, ``--set`` and ``--quick``.

One definition each, so a seed list or an override means the same thing (and fails with the same
message, exit 2) whichever command a user types it into.
"""
from __future__ import annotations

import argparse
import re
from typing import Any, Iterable, Mapping

from .errors import ConfigError, closest

#: dataset names as the papers print them (summaries, tables; the paper CSVs join on these)
DATASET_LABEL: Mapping[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet-16-120"}

# ``--quick``: a smoke run, minutes on a 2-core CPU. A small ranker (D 32, 1+1 layers) trained for
# 3 epochs on 200 cells, 5 search iterations. Applied on top of a config, under ``--set``.
QUICK_SETTINGS: Mapping[str, Any] = {
    "train_size": 200,
    "val_size": 64,
    "d_model": 32,
    "n_heads": 2,
    "d_ff": 64,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "epochs": 3,
    "batch_size": 32,
    "sample_size": 32,
    "search_iterations": 5,
    "constraint_reuse": 5,
    "warmup_steps": 5,
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose answer to a value outside an option's ``choices`` (or an unknown
    sub-command) names the closest choice: ``argument --space: invalid choice: 'nb2O1'; did you
    mean 'nb201'? (choose from nb201, nb101)``. Sub-parsers are of the same class."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            by_text = {str(c): c for c in action.choices}
            best = closest(value, by_text)
            hint = f"; did you mean {by_text[best]!r}?" if best is not None else ""
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} (choose from {', '.join(by_text)})")
        super()._check_value(action, value)


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (``--pack``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def parse_seeds(text: str | int | Iterable[int]) -> tuple[int, ...]:
    """``"0-9"`` -> 0..9, ``"0,3,5"`` -> (0, 3, 5), ``"0-2,7"`` -> (0, 1, 2, 7), in the order written.

    Raises :class:`ConfigError` (message starting ``seeds:``) on text that is not a list of
    non-negative integers and ranges, a descending range, or a repeated seed.
    """
    if isinstance(text, bool):
        raise ConfigError(f"seeds: expected e.g. '0-9' or '0,3,5', got {text!r}")
    if isinstance(text, int):
        text = str(text)
    if isinstance(text, str):
        seeds: list[int] = []
        for part in text.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ConfigError(f"seeds: cannot parse {part!r} in {text!r}; write e.g. '0-9' or '0,3,5'")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ConfigError(f"seeds: range {part} is descending; write {hi}-{lo}")
            seeds.extend(range(lo, hi + 1))
    else:
        seeds = list(text)
        for s in seeds:
            if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                raise ConfigError(f"seeds: seeds must be integers >= 0 (got {s!r})")
    if not seeds:
        raise ConfigError(f"seeds: no seeds in {text!r}")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ConfigError(f"seeds: seed(s) {dup} repeated in {text!r}")
    return tuple(seeds)


def seeds_text(seeds: Iterable[int]) -> str:
    """Seeds as :func:`parse_seeds` reads them back: ``0-9``, ``0,3,5``, ``0-2,7`` (each run of two
    or more consecutive seeds as a range), in the order given."""
    seeds = [int(s) for s in seeds]
    parts: list[str] = []
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(f"{seeds[i]}-{seeds[j]}" if j > i else str(seeds[i]))
        i = j + 1
    return ",".join(parts)


def parse_set(items: Iterable[str] | None) -> dict[str, Any]:
    """``["epochs=3", "device=cuda"]`` -> ``{"epochs": 3, "device": "cuda"}`` (values read as YAML scalars).

    Key names are checked where the overrides meet the config (unknown key -> closest valid name).
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key.strip()}: cannot read the value {value!r}") from None
    return out
