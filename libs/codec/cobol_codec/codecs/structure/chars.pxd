# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Inline C helpers the L2 models share (compiled into each): character classes, the
params writer, the placeholder kinds of line templates, and copying a '\n'-terminated term."""
from libc.stdint cimport int64_t, uint8_t, uint64_t

from cobol_codec.codecs.common cimport varint_bytes
from libc.string cimport memcpy, memchr

cdef enum:
    PH_NUM = 1
    PH_STR = 2


cdef inline _put(bytearray out, object v):
    """Appends a params varint (common.pxd's writer; params are read back with
    cobol_codec.varint.Cursor)."""
    if v < 0:
        raise ValueError("L2 parameters cannot hold a negative value")
    cdef uint64_t x = int(v)
    out += varint_bytes(x)


cdef inline bint _isdig(uint8_t c) noexcept nogil:
    return 48 <= c <= 57

cdef inline bint _isalpha(uint8_t c) noexcept nogil:
    c |= 32
    return 97 <= c <= 122

cdef inline bint _isalnum(uint8_t c) noexcept nogil:
    return _isdig(c) or _isalpha(c)

cdef inline bint _ishex(uint8_t c) noexcept nogil:
    if _isdig(c):
        return True
    c |= 32
    return 97 <= c <= 102


cdef inline int _copy_term(uint8_t* out, Py_ssize_t* pos, Py_ssize_t out_len,
                           const uint8_t* src, int64_t* cur, int64_t end) noexcept nogil:
    """Copy src[cur:] up to a '\\n' (consumed, not copied)."""
    cdef const void* q
    cdef int64_t L
    if cur[0] >= end:
        return -2
    q = memchr(src + cur[0], 10, end - cur[0])
    if q == NULL:
        return -2
    L = <const uint8_t*>q - (src + cur[0])
    if pos[0] + L > out_len:
        return -1
    memcpy(out + pos[0], src + cur[0], L)
    pos[0] += L
    cur[0] += L + 1
    return 0
