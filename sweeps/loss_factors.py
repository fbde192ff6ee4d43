#!/usr/bin/env python
"""Loss factors: classification / ranking loss on-off (NARQ2T Table V: losses, NAR Table 4: losses_nar),
the rank-loss factor lambda2 per benchmark (NARQ2T Table VI: rank_*), the latency-loss factor lambda1 with
NAR (Table IX: latency) and the latency head off/on (Table III: latency_head).

The sweeps are defined once, in the ablation registry (nar_core/ablations/registry.py); this
script runs them: ``--table`` picks one, ``--budget 150`` runs its grid at 150 total queries on
NAS-Bench-201 (the default space; ``--space nb101`` for the papers' NAS-Bench-101), ``--preset authors``
with the authors' settings. ``--help`` lists the options.
"""
import sys

from nar_core.ablations import script_specs
from nar_core.sweep import sweep_main

SPECS = script_specs("loss_factors")
SPEC = next(iter(SPECS.values()))

if __name__ == "__main__":
    sys.exit(sweep_main(SPECS, prog="sweeps/loss_factors.py", description=__doc__))
