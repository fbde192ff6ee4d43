#!/usr/bin/env python
"""One paper table (or figure) from a results folder, beside the paper's numbers.

    python analysis/tables.py list
    python analysis/tables.py table narq2t-V --results results/ [--format markdown|csv|latex]
    python analysis/tables.py figure queries --results results/ --out queries.png

The same as ``nar tables`` (nar_core/ablations/cli.py); ``--help`` lists the options.
"""
import sys

from nar_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["tables", *sys.argv[1:]]))
