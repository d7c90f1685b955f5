"""Differential test: seeded random operation streams run against ferrozk and Apache
ZooKeeper 3.8 side by side, every reply and watch event compared after normalisation.

  gen.py        the generator (what it covers, and what it never sends)
  wire.py       hand-built frames over a raw socket
  execute.py    one stream on one server: pipelined batches, ping barriers, the transcript
  normalise.py  what may differ and how it is normalised; the known intentional
                differences (ferrozk follows 3.9) are listed there, in one place
  runner.py     both servers (started through ../zkharness.py), comparison, shrinking
  __main__.py   the CLI for long runs: python -m differential --help (from compat-tests/)
"""

import sys
from pathlib import Path

_COMPAT = str(Path(__file__).resolve().parent.parent)
if _COMPAT not in sys.path:
    sys.path.insert(0, _COMPAT)
