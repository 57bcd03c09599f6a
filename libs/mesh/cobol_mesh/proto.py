"""The generated protobuf/gRPC modules (built by scripts/gen_proto.sh into libs/mesh/cobol_proto)."""
from __future__ import annotations

import sys
from pathlib import Path

_MESH = str(Path(__file__).resolve().parent.parent)      # libs/mesh, home of cobol_proto
if _MESH not in sys.path:
    sys.path.append(_MESH)

try:
    from cobol_proto import mesh_pb2 as pb, mesh_pb2_grpc as pb_grpc  # noqa: E402
except ImportError as exc:  # pragma: no cover
    raise ImportError(f"cobol_proto is not generated ({exc}): run `make proto` "
                      "(bash scripts/gen_proto.sh)") from exc

__all__ = ["pb", "pb_grpc"]
