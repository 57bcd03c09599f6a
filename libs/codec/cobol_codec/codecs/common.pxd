# cython: language_level=3
"""The parts every codec shares, compiled into each codec (everything here is inline).

- varints: unsigned LEB128, 7 bits a byte, low bits first. Readers accept only the canonical
  form (no trailing zero byte) within a byte budget, so a hostile payload cannot make one
  value take two spellings or run past 64 bits.
- bit I/O: LSB-first packing of fields of up to 64 bits into a byte buffer (L4's layout).
- errors: one convention. nogil kernels return an index, or -1 / an error code; the Python
  level raises `corrupt(layer, message)`, a CorruptFrameError (a ValueError) whose message
  names the layer. Python-level varints (headers, params) live in cobol_codec/varint.py.
"""
from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memcpy

cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil


# ---- errors ---------------------------------------------------------------------------------

cdef inline object corrupt(str layer, str message):
    """The exception a codec raises for a damaged or hostile payload."""
    from cobol_codec.errors import CorruptFrameError
    return CorruptFrameError(f"{layer}: {message}")


# ---- small integer helpers ------------------------------------------------------------------

cdef inline int bitlen(uint64_t v) noexcept nogil:
    """Number of significant bits of v (0 for 0)."""
    return 0 if v == 0 else 64 - __builtin_clzll(v)


cdef inline uint64_t zigzag(uint64_t d) noexcept nogil:
    return (d << 1) ^ <uint64_t>(<int64_t>d >> 63)


cdef inline uint64_t unzigzag(uint64_t v) noexcept nogil:
    return (v >> 1) ^ (0 - (v & 1))


# ---- varints --------------------------------------------------------------------------------

cdef inline int varint_len(uint64_t v) noexcept nogil:
    cdef int n = 1
    while v >= 128:
        v >>= 7
        n += 1
    return n


cdef inline Py_ssize_t put_varint(uint8_t *o, Py_ssize_t k, uint64_t v) noexcept nogil:
    """Writes v at o[k]; returns the index after it. The caller reserves 10 bytes."""
    while v >= 128:
        o[k] = <uint8_t>(v | 128)
        k += 1
        v >>= 7
    o[k] = <uint8_t>v
    return k + 1


cdef inline Py_ssize_t get_varint(const uint8_t *p, Py_ssize_t n, Py_ssize_t i, uint64_t *out,
                                  int maxbytes=10) noexcept nogil:
    """Reads a varint of at most `maxbytes` bytes at p[i:n]; returns the index after it, or
    -1 when it is truncated, longer than `maxbytes`, above 64 bits or not canonical."""
    cdef uint64_t v = 0, b
    cdef int shift = 0, k
    for k in range(maxbytes if maxbytes < 10 else 10):
        if i >= n:
            return -1
        b = p[i]
        i += 1
        if shift == 63 and (b & 0x7E):
            return -1
        v |= (b & 127) << shift
        if b < 128:
            if b == 0 and shift > 0:
                return -1
            out[0] = v
            return i
        shift += 7
    return -1


cdef inline bytes varint_bytes(uint64_t v):
    cdef uint8_t buf[10]
    cdef Py_ssize_t k = put_varint(buf, 0, v)
    return (<char *>buf)[:k]


# ---- bit I/O (LSB-first) --------------------------------------------------------------------

cdef struct BitWriter:
    uint8_t *p          # next whole byte to write (the caller reserves room plus 8 bytes)
    uint64_t acc        # pending bits, low bits first
    int nbits


cdef inline void bits_init(BitWriter *w, uint8_t *p) noexcept nogil:
    w.p = p
    w.acc = 0
    w.nbits = 0


cdef inline void bits_put(BitWriter *w, uint64_t x, int width) noexcept nogil:
    """Appends the low `width` bits of x (width 1..64; x has no bits above width)."""
    w.acc |= x << w.nbits
    if w.nbits + width >= 64:
        memcpy(w.p, &w.acc, 8)
        w.p += 8
        w.acc = (x >> (64 - w.nbits)) if w.nbits > 0 else 0
        w.nbits = w.nbits + width - 64
    else:
        w.nbits += width


cdef inline uint8_t *bits_flush(BitWriter *w) noexcept nogil:
    """Writes the pending bits, zero-padded to a byte; returns the end of the output."""
    cdef int nb = (w.nbits + 7) >> 3
    memcpy(w.p, &w.acc, nb)
    w.p += nb
    w.acc = 0
    w.nbits = 0
    return w.p


cdef inline uint64_t bits_get(const uint8_t *q, Py_ssize_t nbytes, uint64_t bitpos, int width) noexcept nogil:
    """The `width` bits (1..64) at bit `bitpos` of q[0:nbytes], LSB-first. The caller checks
    that they lie inside the area; bytes past its end are never read."""
    cdef Py_ssize_t byte = <Py_ssize_t>(bitpos >> 3), k
    cdef int sh = <int>(bitpos & 7)
    cdef uint64_t v = 0
    cdef Py_ssize_t avail = nbytes - byte
    if avail >= 8:
        memcpy(&v, q + byte, 8)
    else:
        for k in range(avail):
            v |= (<uint64_t>q[byte + k]) << (8 * k)
    v >>= sh
    if sh + width > 64:
        v |= (<uint64_t>q[byte + 8]) << (64 - sh)
    return v if width == 64 else v & ((<uint64_t>1 << width) - 1)
