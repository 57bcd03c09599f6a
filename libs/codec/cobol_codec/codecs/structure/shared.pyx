# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Python-level helpers of the L2 models: model ids, the params reader, stream checks, and
cutting a frame into lines."""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free
from libc.math cimport log2

import zlib
import numpy as np

from cobol_codec.varint import Cursor

MODEL_LOG = 1
MODEL_CSV = 2
MODEL_FIXED = 4
MODEL_VARREC = 5
MODEL_RECORDS = 6
MODELS = (MODEL_LOG, MODEL_CSV, MODEL_FIXED, MODEL_VARREC, MODEL_RECORDS)

_VERSION = 1
_MIN_INPUT = 64

def _Reader(params):
    """Reads a model's params: every read past the end or above its limit is refused."""
    return Cursor(params, "L2 parameters")


def _ints_from(b, name, limit_count):
    if not isinstance(b, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name}: payload is not bytes")
    if len(b) % 8:
        raise ValueError(f"{name}: ints stream length {len(b)} is not a multiple of 8")
    if len(b) // 8 > limit_count:
        raise ValueError(f"{name}: too many values")
    return np.frombuffer(bytes(b), dtype="<i8").astype(np.int64)


def _i64(a):
    return np.ascontiguousarray(a, dtype="<i8").tobytes()


def _as_bytes(b, name):
    if not isinstance(b, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name}: payload is not bytes")
    return bytes(b)

# --------------------------------------------------------------------------- lines

def _lines(const uint8_t[::1] d):
    """(starts, ends, final_nl): line i is d[starts[i]:ends[i]] without its '\\n'."""
    cdef Py_ssize_t n = d.shape[0], p = 0, k = 0, cnt = 0
    cdef const uint8_t* base
    cdef const void* q
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 1
    base = &d[0]
    with nogil:
        q = memchr(base, 10, n)
        while q != NULL:
            cnt += 1
            p = <const uint8_t*>q - base + 1
            if p >= n:
                break
            q = memchr(base + p, 10, n - p)
    final_nl = 1 if d[n - 1] == 10 else 0
    nl = cnt + (0 if final_nl else 1)
    starts = np.empty(nl, np.int64)
    ends = np.empty(nl, np.int64)
    cdef int64_t[::1] s = starts
    cdef int64_t[::1] e = ends
    p = 0
    with nogil:
        while k < nl:
            q = memchr(base + p, 10, n - p) if p < n else NULL
            s[k] = p
            if q == NULL:
                e[k] = n
                p = n
            else:
                e[k] = <const uint8_t*>q - base
                p = e[k] + 1
            k += 1
    return starts, ends, final_nl


def _is_text(const uint8_t[::1] d):
    """Text (lines of mostly printable bytes, UTF-8 allowed) or binary, judged on the first
    64 KiB: at least one newline, >= 70% printable ASCII or tab/CR/LF, and >= 97% printable
    or high bytes. One C pass: every frame asks."""
    cdef Py_ssize_t n = min(d.shape[0], 1 << 16), i, printable = 0, high = 0, nlc = 0
    cdef uint8_t b
    if n == 0:
        return False
    with nogil:
        for i in range(n):
            b = d[i]
            if 32 <= b < 127 or b == 9 or b == 13:
                printable += 1
            elif b == 10:
                printable += 1
                nlc += 1
            elif b >= 128:
                high += 1
    return nlc >= 1 and printable >= 0.7 * n and printable + high >= 0.97 * n
