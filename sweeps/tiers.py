#!/usr/bin/env python
"""Number of quality tiers x top-k, with the no-tier row: NARQ2T Table IV (narq2t), NAR Table 3 (nar).

The sweeps are defined once, in the ablation registry (nar_core/ablations/registry.py); this
script runs them: ``--table`` picks one, ``--budget 150`` runs its grid at 150 total queries on
NAS-Bench-201 (the default space; ``--space nb101`` for the papers' NAS-Bench-101), ``--preset authors``
with the authors' settings. ``--help`` lists the options.
"""
import sys

from nar_core.ablations import script_specs
from nar_core.sweep import sweep_main

SPECS = script_specs("tiers")
SPEC = next(iter(SPECS.values()))

if __name__ == "__main__":
    sys.exit(sweep_main(SPECS, prog="sweeps/tiers.py", description=__doc__))
