#!/usr/bin/env python
"""Queries versus accuracy: every method at 50, 100, 150, 300, 600 and 1,506 total queries (the budget table).

The sweeps are defined once, in the ablation registry (nar_core/ablations/registry.py); this
script runs them: ``--table`` picks one, ``--budget 150`` runs its grid at 150 total queries on
NAS-Bench-201 (the default space; ``--space nb101`` for the papers' NAS-Bench-101), ``--preset authors``
with the authors' settings. ``--help`` lists the options.
"""
import sys

from nar_core.ablations import script_specs
from nar_core.sweep import sweep_main

SPECS = script_specs("queries_vs_accuracy")
SPEC = next(iter(SPECS.values()))

if __name__ == "__main__":
    sys.exit(sweep_main(SPECS, prog="sweeps/queries_vs_accuracy.py", description=__doc__))
