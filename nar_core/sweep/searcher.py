"""Optuna mode: a Ray Tune searcher that asks and tells an Optuna study kept in a journal file.

The study lives in ``<experiment>/optuna.journal`` (:class:`optuna.storages.JournalStorage`,
file backend), named after the experiment, so a user opens it with
``optuna.load_study(study_name=NAME, storage=JournalStorage(JournalFileBackend(PATH)))`` or
``optuna-dashboard PATH``, and a resumed driver continues the same study.

Why not Ray's ``OptunaSearch``: it accepts a storage, but it hands Tune only the sampled values,
so a trial cannot be tied to its Optuna trial number, and a study trial left RUNNING by a killed
driver stays RUNNING forever while its partly finished seeds are lost. Here every Tune trial
carries ``key = "optuna-<number>"``; a resumed driver first continues the study's RUNNING trials
(same number, same values, seeds already recorded are not run again), then asks new ones until
the study holds ``budget`` trials. Each trial is told its final metric (``spec.metric``, the mean
over its seeds), or FAIL when it failed for good.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import optuna
from ray.tune.search import Searcher

from .spec import trial_key

JOURNAL_FILE = "optuna.journal"


def open_study(experiment_dir: Path, name: str, direction: str, seed: int) -> optuna.Study:
    """Create or load the experiment's study (TPE sampler seeded with ``--optuna-seed``)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(experiment_dir / JOURNAL_FILE)))
    return optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                               direction="maximize" if direction == "max" else "minimize",
                               sampler=optuna.samplers.TPESampler(seed=seed))


class StudySearcher(Searcher):
    """Suggests ``{"trial": {"key", "params"}}`` configs from an Optuna study; tells it each trial's result."""

    def __init__(self, study: optuna.Study, space: Mapping[str, Any], budget: int, metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self._study = study
        self._space = {k: p.to_optuna() for k, p in space.items()}
        self._budget = budget
        self._unfinished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        self._numbers: dict[str, int] = {}

    def remaining(self) -> int:
        """Trials still to run: the unfinished ones, then new ones up to the budget."""
        return len(self._unfinished) + max(0, self._budget - len(self._study.trials))

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self._unfinished:
            trial = self._unfinished.pop(0)
            number, params = trial.number, dict(trial.params)
        elif len(self._study.trials) < self._budget:
            trial = self._study.ask(self._space)
            number, params = trial.number, dict(trial.params)
        else:
            return Searcher.FINISHED
        self._numbers[trial_id] = number
        return {"trial": {"key": trial_key("optuna", number), "params": params}}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        number = self._numbers.pop(trial_id, None)
        if number is None:
            return
        value = (result or {}).get(self.metric)
        if error or not isinstance(value, (int, float)) or not math.isfinite(value):
            self._study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(number, float(value))

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the study is in its journal file, written as trials are asked and told."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore: a resumed driver opens the journal (:func:`open_study`)."""

    def trials(self) -> dict[str, dict[str, Any]]:
        """Every trial of the study: key -> sampled values."""
        return {trial_key("optuna", t.number): dict(t.params) for t in self._study.get_trials(deepcopy=False)}
