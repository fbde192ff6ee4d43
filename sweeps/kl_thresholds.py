#!/usr/bin/env python
"""KL-divergence thresholds zeta for FLOPs and parameters (no published table; paper default 2.5).

The spec fixes distribution sampling (``sampling_mode=statistics``): only there does the KL test of
Algorithm 2 decide anything. Under NB201's default interval sampling (the authors' force_uniform)
every zeta samples the same cells.

The sweeps are defined once, in the ablation registry (nar_core/ablations/registry.py); this
script runs them: ``--table`` picks one, ``--budget 150`` runs its grid at 150 total queries on
NAS-Bench-201 (the default space; ``--space nb101`` for the papers' NAS-Bench-101), ``--preset authors``
with the authors' settings. ``--help`` lists the options.
"""
import sys

from nar_core.ablations import script_specs
from nar_core.sweep import sweep_main

SPECS = script_specs("kl_thresholds")
SPEC = next(iter(SPECS.values()))

if __name__ == "__main__":
    sys.exit(sweep_main(SPECS, prog="sweeps/kl_thresholds.py", description=__doc__))
