"""The one validator for what clients and devices name: job ids, stream keys, profiles,
layers and dictionary ids. Every service checks with these functions, so what ingest accepts
the archive and the coordinator accept too.

Patterns are anchored with \\A...\\Z: `$` would also match before a trailing newline.

Job ids live in two namespaces that can never meet:
- client ids (gRPC `UploadStart.job_id`, ids the API pre-assigns): start with a letter or a
  digit and must not start with the reserved prefix `kafka-` (in any case);
- generated ids of device-stream jobs: `kafka-p<partition>-o<offset>` (`device_job_id`).
Neither may contain `/`, `:` (the separator of internal key names), `..` or control bytes.
"""
from __future__ import annotations

import re

MAX_ID = 128
GENERATED_PREFIX = "kafka-"                       # reserved for ids the mesh generates
PROFILES = ("fast", "balanced", "max")

_CLIENT_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_DEVICE_ID = re.compile(r"\Akafka-p(0|[1-9][0-9]{0,9})-o(0|[1-9][0-9]{0,18})\Z")
_STREAM_KEY = re.compile(rb"\A[A-Za-z0-9._:-]{1,128}\Z")
_DICT_ID = re.compile(r"\A[0-9a-f]{16}\Z")
_LAYERS = re.compile(r"\A[1-7](-[1-7])?(,[1-7](-[1-7])?)*\Z")


class InvalidName(ValueError):
    """A name that the mesh refuses; the message says what a valid one looks like."""


def check_client_job_id(job_id: str) -> str:
    """A job id a client may choose. Raises InvalidName."""
    if not isinstance(job_id, str) or not _CLIENT_ID.match(job_id):
        raise InvalidName("job_id must be 1-128 characters of [A-Za-z0-9._-], starting with a "
                          "letter or digit")
    if ".." in job_id:
        raise InvalidName("job_id must not contain '..'")
    if job_id.lower().startswith(GENERATED_PREFIX):
        raise InvalidName(f"job ids starting with {GENERATED_PREFIX!r} are reserved for device-stream jobs")
    return job_id


def device_job_id(partition: int, offset: int) -> str:
    """The generated id of a device-stream job (deterministic: a replay names the same job)."""
    return f"{GENERATED_PREFIX}p{int(partition)}-o{int(offset)}"


def is_device_job_id(job_id: str) -> bool:
    return isinstance(job_id, str) and bool(_DEVICE_ID.match(job_id))


def check_job_id(job_id: str) -> str:
    """Any job id the mesh may hold (client or generated). Raises InvalidName."""
    if is_device_job_id(job_id):
        return job_id
    return check_client_job_id(job_id)


def is_job_id(job_id: str) -> bool:
    try:
        check_job_id(job_id)
        return True
    except InvalidName:
        return False


def check_stream_key(key: bytes | None) -> str:
    """A device stream id (the Kafka key of cobol.ingest.raw). Raises InvalidName."""
    if key is None or not _STREAM_KEY.match(key):
        raise InvalidName("invalid key: the stream id must match [A-Za-z0-9._:-]{1,128}")
    return key.decode()


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise InvalidName(f"profile must be one of {', '.join(PROFILES)}")
    return profile


def check_layers(text: str) -> str:
    """The user's `layers` text, unchanged if valid ("" = all layers): comma-separated layers
    1-7 or ranges `a-b` with a <= b, the grammar of cobol_codec.parse_layers without spaces."""
    if text == "":
        return text
    if len(text) > 64:
        raise InvalidName("layers is longer than 64 characters")
    # the wire form is canonical (no spaces, no trailing newline); the codec's CLI is laxer
    if not _LAYERS.match(text):
        raise InvalidName("layers must be layer numbers 1-7 or ranges, e.g. '1-4' or '1,2,6-7'")
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            raise InvalidName(f"layers: range {part!r} runs backwards")
    return text


def check_dictionary(value: str) -> str:
    """UploadStart.dictionary: "" (the current version), "none", or a 16-hex-digit id."""
    if value in ("", "none") or _DICT_ID.match(value):
        return value
    raise InvalidName("dictionary must be '', 'none' or a dictionary id of 16 lower-case hex digits")
