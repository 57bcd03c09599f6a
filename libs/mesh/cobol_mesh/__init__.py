"""cobol_mesh: the shared plumbing of the mesh's services.

Settings, structured logging, tracing, metrics, Kafka and gRPC helpers and process
lifecycle. Services import from here; nothing here imports a service.
"""
from __future__ import annotations

import sys
from pathlib import Path

# The generated protobuf package `cobol_proto` lives beside this package (libs/mesh), and the
# codec under libs/codec: make both importable when running from a source checkout.
_LIBS = Path(__file__).resolve().parent.parent.parent
for _p in (_LIBS / "mesh", _LIBS / "codec"):
    if _p.is_dir() and str(_p) not in sys.path:
        sys.path.append(str(_p))
