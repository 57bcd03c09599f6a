"""Job states, profiles and roles, from the enums of proto/cobol_proto/api.proto.

The REST names are the enum names without their prefix, in lower case (PROFILE_FAST -> fast);
UNSPECIFIED is never a REST value.
"""
from __future__ import annotations

import re
from typing import Literal

from cobol_proto import api_pb2


def _names(enum, prefix: str) -> tuple[str, ...]:
    return tuple(n.removeprefix(prefix).lower() for n, v in enum.items() if v != 0)


JOB_STATES = _names(api_pb2.JobState, "JOB_STATE_")     # queued, running, done, failed
PROFILES = _names(api_pb2.Profile, "PROFILE_")          # fast, balanced, max
ROLES = _names(api_pb2.Role, "ROLE_")                   # viewer, operator, admin (weakest first)
ROLE_RANK = {r: api_pb2.Role.Value("ROLE_" + r.upper()) for r in ROLES}
DEFAULT_PROFILE = "fast"

# Literal types for pydantic / OpenAPI, checked against the proto at import.
Profile = Literal["fast", "balanced", "max"]
ProfileOrEmpty = Literal["", "fast", "balanced", "max"]
Role = Literal["viewer", "operator", "admin"]
JobState = Literal["queued", "running", "done", "failed"]
assert Profile.__args__ == PROFILES and Role.__args__ == ROLES and JobState.__args__ == JOB_STATES, \
    "api.proto and services/api/enums.py disagree"

_LAYERS_RE = re.compile(r"^[1-7](-[1-7])?(,[1-7](-[1-7])?)*$")
DICT_RE = re.compile(r"^([0-9a-f]{16}|none)$")


def parse_layers(text: str) -> frozenset[int]:
    """The codec's parse_layers when it exists, else the same grammar here: `1-4`, `1,2,6-7`."""
    try:
        from cobol_codec import parse_layers as codec_parse  # added by the codec's own work
    except ImportError:
        codec_parse = None
    if codec_parse is not None:
        return frozenset(codec_parse(text))
    t = text.replace(" ", "")
    if not _LAYERS_RE.match(t):
        raise ValueError(f"layers must look like 1-4 or 1,2,6-7 with layers 1..7 (got {text[:40]!r})")
    out: set[int] = set()
    for part in t.split(","):
        a, _, b = part.partition("-")
        lo, hi = int(a), int(b or a)
        if lo > hi:
            raise ValueError(f"layer range {part} runs backwards")
        out.update(range(lo, hi + 1))
    return frozenset(out)
