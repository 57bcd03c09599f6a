#!/usr/bin/env bash
# Generate the protobuf / gRPC Python modules from proto/ into libs/mesh/cobol_proto/
# (package `cobol_proto`, gitignored). Idempotent; `make proto` / `make setup` call it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT=libs/mesh
mkdir -p "$OUT/cobol_proto"
"$PY" -m grpc_tools.protoc -Iproto \
  --python_out="$OUT" --grpc_python_out="$OUT" --pyi_out="$OUT" \
  proto/cobol_proto/*.proto
cat > "$OUT/cobol_proto/__init__.py" <<'PYEOF'
"""Generated from proto/cobol_proto/*.proto by scripts/gen_proto.sh: do not edit."""
PYEOF
echo "gen_proto: wrote $OUT/cobol_proto/ ($(ls "$OUT"/cobol_proto/*.py | wc -l) modules)"
