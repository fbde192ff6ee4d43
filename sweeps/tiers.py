#!/usr/bin/env python
"""Number of quality tiers x top-k, with the no-tier row: NARQ2T Table IV (narq2t), NAR Table 3 (nar).

The sweeps are defined once, in the ablation registry (nar_core/ablations/registry.py); this
script runs them: ``--table`` picks one, ``--space nb201 --budget 150`` runs its grid on NAS-Bench-201
at 150 total queries, ``--preset authors`` with the authors' settings. ``--help`` lists the options.
"""
import sys

from nar_core.ablations import script_specs
from nar_core.sweep import sweep_main

SPECS = script_specs("tiers")
SPEC = next(iter(SPECS.values()))

if __name__ == "__main__":
    sys.exit(sweep_main(SPECS, prog="sweeps/tiers.py", description=__doc__))
