"""Import first in every benchmark script: `import _paths  # noqa: F401`.

`benchmarks/streaming.py` is named like the package it measures, and Python puts
a script's own folder first on the path, so `import streaming` would find the
script. This moves the folder to the end (sibling helpers such as `corpus`
still import) and puts the repository root first.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]
sys.path.insert(0, str(ROOT))
