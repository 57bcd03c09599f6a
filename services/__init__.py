"""The mesh's services; each runs as `python -m services.<name>`.

Running from a source checkout: make the shared libraries importable even when the editable
install is missing or stale (libs/mesh holds cobol_mesh and the generated cobol_proto).
"""
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _p in (_ROOT / "libs" / "mesh", _ROOT / "libs" / "codec", _ROOT / "libs" / "federation"):
    if _p.is_dir() and str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
