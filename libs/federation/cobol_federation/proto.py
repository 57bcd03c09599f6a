"""The generated federation messages (proto/cobol_proto/federation.proto, built by make proto)."""
from __future__ import annotations

from cobol_mesh import proto as _mesh_proto  # noqa: F401  (puts the generated package on the path)

try:
    from cobol_proto import federation_pb2 as fpb, federation_pb2_grpc as fpb_grpc  # noqa: E402
except ImportError as exc:  # pragma: no cover
    raise ImportError(f"federation protos are not generated ({exc}): run `make proto`") from exc

__all__ = ["fpb", "fpb_grpc"]
