import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
for p in (ROOT, ROOT / "libs" / "mesh", ROOT / "libs" / "codec"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
