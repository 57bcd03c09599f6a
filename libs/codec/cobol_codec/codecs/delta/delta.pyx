# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L3: integer transforms before bit-packing.

delta_encode(ints) -> (mode, out) or None      (ints/out: little-endian int64 bytes)
delta_decode(mode, data, count) -> bytes

Modes (all arithmetic is modulo 2**64, so every int64 sequence round-trips):
  1 delta              out[i] = x[i] - x[i-1]            (x[-1] = 0)
  2 delta-of-delta     out[i] = d[i] - d[i-1]            (d = delta, d[-1] = 0)
  3 zigzag(delta)
  4 zigzag(delta-of-delta)
  5 xor with previous  (Gorilla style, for float bit patterns / bit fields)
  6 zigzag(raw)
The encoder estimates the cost of each candidate as the sum over blocks of 64 values of
(max significant bits in the block) * (block length) -- roughly what frame-of-reference
bit-packing pays -- and returns None when the raw values are already the cheapest.
"""
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from cobol_codec.codecs.common cimport corrupt

MODE_DELTA = 1
MODE_DOD = 2
MODE_ZZ_DELTA = 3
MODE_ZZ_DOD = 4
MODE_XOR = 5
MODE_ZZ_RAW = 6
_MODES = (1, 2, 3, 4, 5, 6)

cdef enum:
    BLOCK = 64


cdef inline int _bitlen(uint64_t v) noexcept nogil:
    cdef int n = 0
    while v:
        v >>= 1
        n += 1
    return n


cdef inline uint64_t _zz(uint64_t v) noexcept nogil:
    return (v << 1) ^ (<uint64_t>0 - (v >> 63))


cdef inline uint64_t _unzz(uint64_t v) noexcept nogil:
    return (v >> 1) ^ (<uint64_t>0 - (v & 1))


cdef void _forward(const uint64_t* x, uint64_t* out, Py_ssize_t n, int mode) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint64_t prev = 0, prevd = 0, d, v
    for i in range(n):
        if mode == 1 or mode == 3:
            v = x[i] - prev
            prev = x[i]
        elif mode == 2 or mode == 4:
            d = x[i] - prev
            prev = x[i]
            v = d - prevd
            prevd = d
        elif mode == 5:
            v = x[i] ^ prev
            prev = x[i]
        else:
            v = x[i]
        if mode == 3 or mode == 4 or mode == 6:
            v = _zz(v)
        out[i] = v


cdef void _inverse(const uint64_t* y, uint64_t* out, Py_ssize_t n, int mode) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint64_t prev = 0, prevd = 0, v
    for i in range(n):
        v = y[i]
        if mode == 3 or mode == 4 or mode == 6:
            v = _unzz(v)
        if mode == 1 or mode == 3:
            prev = prev + v
            v = prev
        elif mode == 2 or mode == 4:
            prevd = prevd + v
            prev = prev + prevd
            v = prev
        elif mode == 5:
            prev = prev ^ v
            v = prev
        out[i] = v


cdef uint64_t _cost(const uint64_t* x, Py_ssize_t n, int mode) noexcept nogil:
    """Estimated packed size in bits of the transformed sequence (mode 0 = raw)."""
    cdef Py_ssize_t i, j, e
    cdef uint64_t prev = 0, prevd = 0, d, v, acc, total = 0
    i = 0
    while i < n:
        e = i + BLOCK
        if e > n:
            e = n
        acc = 0
        for j in range(i, e):
            if mode == 1 or mode == 3:
                v = x[j] - prev
                prev = x[j]
                v = _zz(v)
            elif mode == 2 or mode == 4:
                d = x[j] - prev
                prev = x[j]
                v = _zz(d - prevd)
                prevd = d
            elif mode == 5:
                v = x[j] ^ prev
                prev = x[j]
            elif mode == 6:
                v = _zz(x[j])
            else:
                v = x[j]
            acc |= v
        total += <uint64_t>_bitlen(acc) * <uint64_t>(e - i)
        i = e
    return total


def estimate_costs(ints):
    """{mode: estimated bits} for raw (0) and each candidate mode (diagnostics)."""
    cdef const unsigned char[::1] buf = memoryview(ints).cast("B")
    if buf.shape[0] % 8:
        raise ValueError("ints length is not a multiple of 8")
    cdef Py_ssize_t n = buf.shape[0] // 8
    cdef uint64_t* x = NULL
    res = {}
    arr = bytearray(buf.shape[0])
    cdef unsigned char[::1] a = arr
    if n:
        memcpy(&a[0], &buf[0], n * 8)
        x = <uint64_t*>&a[0]
    for m in (0, 1, 2, 5, 6):
        res[m] = _cost(x, n, m) if n else 0
    return res


def delta_encode(ints):
    """Pick the cheapest transform; None when raw is already best or input is tiny."""
    cdef const unsigned char[::1] buf = memoryview(ints).cast("B")
    if buf.shape[0] % 8:
        raise ValueError("ints length is not a multiple of 8")
    cdef Py_ssize_t n = buf.shape[0] // 8
    if n < 2:
        return None
    arr = bytearray(n * 8)
    cdef unsigned char[::1] a = arr
    memcpy(&a[0], &buf[0], n * 8)          # aligned private copy
    cdef const uint64_t* x = <const uint64_t*>&a[0]
    cdef uint64_t c_raw, c_d, c_dd, c_x, c_zr, best
    cdef int mode = 0
    with nogil:
        c_raw = _cost(x, n, 0)
        c_zr = _cost(x, n, 6)
        c_d = _cost(x, n, 1)
        c_dd = _cost(x, n, 2)
        c_x = _cost(x, n, 5)
        best = c_raw
        if c_zr < best:
            best = c_zr; mode = 6
        if c_d < best:
            best = c_d; mode = 3
        if c_dd < best:
            best = c_dd; mode = 4
        if c_x < best:
            best = c_x; mode = 5
    if mode == 0:
        return None
    out = bytearray(n * 8)
    cdef unsigned char[::1] o = out
    with nogil:
        _forward(x, <uint64_t*>&o[0], n, mode)
    return mode, bytes(out)


def delta_decode(mode, data, count):
    """Inverse of delta_encode. Raises ValueError on any inconsistency."""
    if not isinstance(mode, int) or mode not in _MODES:
        raise corrupt("L3 delta", f"unknown delta mode {mode!r}")
    if not isinstance(count, int) or count < 0:
        raise corrupt("L3 delta", f"bad count {count!r}")
    cdef const unsigned char[::1] buf = memoryview(data).cast("B")
    if buf.shape[0] != count * 8:
        raise corrupt("L3 delta", f"delta stream holds {buf.shape[0]} bytes, expected {count * 8}")
    cdef Py_ssize_t n = count
    if n == 0:
        return b""
    src = bytearray(n * 8)
    cdef unsigned char[::1] s = src
    memcpy(&s[0], &buf[0], n * 8)
    out = bytearray(n * 8)
    cdef unsigned char[::1] o = out
    cdef int m = mode
    with nogil:
        _inverse(<const uint64_t*>&s[0], <uint64_t*>&o[0], n, m)
    return bytes(out)
