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

DICT_RE = re.compile(r"\A([0-9a-f]{16}|none)\Z")


def parse_layers(text: str) -> frozenset[int]:
    """The mesh's one validator for `layers` (what ingest will check too): `1-4`, `1,2,6-7`."""
    from cobol_mesh import ids
    try:
        ids.check_layers(text)
    except ids.InvalidName as exc:
        raise ValueError(str(exc)) from None
    if not text:
        raise ValueError("layers is empty: give layers such as 1-4 or 1,2,6-7, or leave the field out")
    out: set[int] = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return frozenset(out)
