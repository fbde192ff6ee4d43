#!/usr/bin/env python
"""Regenerate the reproduction report from a results folder: every ablation table beside the
papers' numbers, the figures and the verdict on each of the papers' claims.

    python analysis/report.py --results results/ --out report/

The same as ``nar report`` (nar_core/ablations/report.py); ``--help`` lists the options.
"""
import sys

from nar_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
