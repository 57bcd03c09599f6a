import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
for p in ("libs/federation", "libs/mesh", "libs/codec"):
    if str(ROOT / p) not in sys.path:
        sys.path.insert(0, str(ROOT / p))
