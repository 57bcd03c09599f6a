# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""L4 bit-packing: frame-of-reference blocks with patched exceptions.

Input/output: ``bytes`` of little-endian int64 values.  Values are cut into blocks of 128
(the last block may be shorter).  Each block is stored as::

    varint  zigzag(base - previous_base)   (wrapping 64-bit arithmetic; first previous_base = 0)
    u8      width w (0..64) of the packed offsets
    u8      number of exceptions e (only present when w < 64)
    bytes   ceil(cnt * w / 8) bytes: the low w bits of (value - base), LSB-first
    e x     u8 position in the block (strictly increasing) + varint of (value - base) >> w

``value - base`` is computed in unsigned 64-bit arithmetic, so the whole int64 range
(INT64_MIN .. INT64_MAX) round-trips.  The width per block minimises the block size: a few
outliers are patched in afterwards instead of widening every value (FastLanes-style PFOR).
"""

from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING
from libc.stdlib cimport malloc, free

from cobol_codec.codecs.common cimport (BitWriter, bits_flush, bits_get, bits_init, bits_put, bitlen,
                                         corrupt, get_varint, put_varint, varint_len, zigzag)

DEF BLOCK = 128


cdef int64_t select_i64(int64_t *a, int lo, int hi, int k) noexcept nogil:
    """The k-th smallest of a[lo..hi] (k an absolute index in that range); rearranges a so
    that a[lo..k-1] <= a[k] <= a[k+1..hi] (quickselect, median-of-three pivot)."""
    cdef int i, j, mid
    cdef int64_t piv, t
    while hi > lo:
        mid = lo + (hi - lo) // 2
        if a[mid] < a[lo]:
            t = a[mid]; a[mid] = a[lo]; a[lo] = t
        if a[hi] < a[lo]:
            t = a[hi]; a[hi] = a[lo]; a[lo] = t
        if a[hi] < a[mid]:
            t = a[hi]; a[hi] = a[mid]; a[mid] = t
        piv = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < piv:
                i += 1
            while a[j] > piv:
                j -= 1
            if i <= j:
                t = a[i]; a[i] = a[j]; a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


cdef Py_ssize_t block_cost(const uint64_t *v, int cnt, uint64_t base, int *best_w) noexcept nogil:
    """Smallest encoded size of a block for ``base`` (without the base varint); sets the width."""
    cdef int hist[65]
    cdef int bs[65]
    cdef int i, w, b, ne, k, nb = 0
    cdef Py_ssize_t cost, best = -1, exc_cost
    cdef int maxb = 0
    memset(hist, 0, sizeof(hist))
    for i in range(cnt):
        b = bitlen(v[i] - base)
        hist[b] += 1
        if b > maxb:
            maxb = b
    for b in range(maxb + 1):        # the bit lengths present: a block has only a few
        if hist[b]:
            bs[nb] = b
            nb += 1
    best_w[0] = 64
    # widths above the largest offset never pay off
    for w in range(maxb, -1, -1):
        exc_cost = 0
        ne = 0
        for k in range(nb - 1, -1, -1):
            b = bs[k]
            if b <= w:
                break
            ne += hist[b]
            exc_cost += hist[b] * (1 + (b - w + 6) // 7)
        if w == 64 or ne <= 255:
            cost = (cnt * w + 7) // 8 + exc_cost + (1 if w == 64 else 2)
            if best < 0 or cost <= best:
                best = cost
                best_w[0] = w
        if ne == cnt:
            break
    return best


cdef Py_ssize_t encode_block(const uint64_t *v, int cnt, uint64_t prev_base, uint64_t *base_out,
                             uint8_t *o) noexcept nogil:
    """Encode one block into ``o`` (which has room for the worst case); returns bytes written."""
    cdef uint64_t base = v[0], d, acc, cb
    cdef int i, w, b, best_w, nbits, ci, cw
    cdef int hist[65]
    cdef Py_ssize_t cost, best, cc
    cdef uint8_t *p = o
    cdef int ne
    cdef int64_t srt[BLOCK]
    cdef int64_t qv[5]
    cdef int hiq, kq
    cdef uint64_t base0
    # base = minimum first; when that needs exceptions or a wide width, a low outlier may
    # be stretching the range: then try low quantiles as well
    for i in range(1, cnt):
        if <int64_t>v[i] < <int64_t>base:
            base = v[i]
    base0 = base                      # the minimum
    best = block_cost(v, cnt, base, &best_w) + varint_len(zigzag(base - prev_base))
    ne = 0
    if best_w < 64:
        for i in range(cnt):
            if (v[i] - base) >> best_w:
                ne = 1
                break
    if ne or best_w >= 12:
        # try a few low quantiles as base: values below it become wrapped exceptions,
        # so a low outlier does not widen the whole block
        for i in range(cnt):
            srt[i] = <int64_t>v[i]
        # the quantiles at 8/32, 4/32, 2/32 and 1/32, each found among the values below the
        # previous one (no full sort: this runs for most blocks of wide values)
        hiq = cnt - 1
        for ci in range(4, 0, -1):
            kq = (cnt * (1 << (ci - 1))) // 32
            qv[ci] = select_i64(srt, 0, hiq, kq)
            hiq = kq
        for ci in range(1, 5):
            cb = <uint64_t>qv[ci]
            if cb == base0:
                continue
            cc = block_cost(v, cnt, cb, &cw) + varint_len(zigzag(cb - prev_base))
            if cc < best:
                best = cc
                best_w = cw
                base = cb
    w = best_w
    # header
    p += put_varint(p, 0, zigzag(base - prev_base))
    p[0] = <uint8_t>w
    p += 1
    ne = 0
    if w < 64:
        for i in range(cnt):
            if (v[i] - base) >> w:
                ne += 1
        p[0] = <uint8_t>ne
        p += 1
    # packed low bits
    cdef uint64_t mask = (<uint64_t>1 << w) - 1 if w < 64 else <uint64_t>0xFFFFFFFFFFFFFFFF
    cdef uint64_t x
    cdef BitWriter bw
    if w > 0:
        bits_init(&bw, p)
        for i in range(cnt):
            bits_put(&bw, (v[i] - base) & mask, w)
        p = bits_flush(&bw)
    # exceptions
    if ne:
        for i in range(cnt):
            x = (v[i] - base) >> w
            if x:
                p[0] = <uint8_t>i
                p += 1
                p += put_varint(p, 0, x)
    base_out[0] = base
    return p - o


def bitpack_encode(ints):
    """Bit-pack little-endian int64 values.  Returns bytes, or None if not smaller than raw."""
    cdef const uint8_t[::1] src = memoryview(ints).cast("B") if not isinstance(ints, bytes) else ints
    cdef Py_ssize_t nbytes = src.shape[0]
    if nbytes % 8:
        raise ValueError("bitpack: input length is not a multiple of 8")
    cdef Py_ssize_t count = nbytes // 8
    if count == 0:
        return None
    # worst case per block: 10 (varint) + 2 + 8*BLOCK
    cdef Py_ssize_t nblocks = (count + BLOCK - 1) // BLOCK
    cdef Py_ssize_t cap = nblocks * (12 + 8 * BLOCK + 8)
    cdef uint8_t *o = <uint8_t *>malloc(cap)
    cdef uint64_t *tmp = <uint64_t *>malloc(BLOCK * 8)
    if o == NULL or tmp == NULL:
        free(o)
        free(tmp)
        raise MemoryError()
    cdef Py_ssize_t pos = 0, k, cnt
    cdef uint64_t prev = 0, base
    with nogil:
        k = 0
        while k < count:
            cnt = count - k
            if cnt > BLOCK:
                cnt = BLOCK
            memcpy(tmp, &src[k * 8], cnt * 8)  # little-endian host assumed (x86/arm64)
            pos += encode_block(tmp, <int>cnt, prev, &base, o + pos)
            prev = base
            k += cnt
    res = None
    if pos < nbytes:
        res = PyBytes_FromStringAndSize(<char *>o, pos)
    free(o)
    free(tmp)
    return res


def bitpack_decode(data, Py_ssize_t count):
    """Inverse of :func:`bitpack_encode`: returns ``count`` little-endian int64 values."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef Py_ssize_t n = src.shape[0]
    if count < 0:
        raise corrupt("L4 bit-packing", "negative count")
    if count == 0:
        if n:
            raise corrupt("L4 bit-packing", "payload for zero values")
        return b""
    cdef Py_ssize_t nblocks = (count + BLOCK - 1) // BLOCK
    if n < nblocks * 2:
        raise corrupt("L4 bit-packing", "payload too short for the value count")
    out = PyBytes_FromStringAndSize(NULL, count * 8)
    cdef uint64_t *o = <uint64_t *>PyBytes_AS_STRING(out)
    cdef const uint8_t *p = &src[0]
    cdef Py_ssize_t i = 0, k = 0, cnt, nb, j
    cdef uint64_t prev = 0, base, d, mask, acc, x
    cdef int w, ne, e, err = 0, pos, last, nbits
    cdef uint64_t *blk
    with nogil:
        while k < count:
            cnt = count - k
            if cnt > BLOCK:
                cnt = BLOCK
            blk = o + k
            i = get_varint(p, n, i, &d)
            if i < 0:
                err = 1
                break
            base = prev + ((d >> 1) ^ (<uint64_t>0 - (d & 1)))
            prev = base
            if i >= n:
                err = 1
                break
            w = p[i]
            i += 1
            if w > 64:
                err = 2
                break
            ne = 0
            if w < 64:
                if i >= n:
                    err = 1
                    break
                ne = p[i]
                i += 1
                if ne > cnt:
                    err = 3
                    break
            nb = (cnt * w + 7) // 8
            if i + nb > n:
                err = 1
                break
            if w == 0:
                for j in range(cnt):
                    blk[j] = base
            else:
                mask = (<uint64_t>1 << w) - 1 if w < 64 else <uint64_t>0xFFFFFFFFFFFFFFFF
                for j in range(cnt):
                    blk[j] = base + bits_get(p + i, nb, <uint64_t>j * w, w)
                nbits = (cnt * w) & 7
                if nbits and (p[i + nb - 1] >> nbits):
                    err = 4  # non-zero padding bits
                    break
                i += nb
            last = -1
            for e in range(ne):
                if i >= n:
                    err = 1
                    break
                pos = p[i]
                i += 1
                if pos <= last or pos >= cnt:
                    err = 3
                    break
                last = pos
                i = get_varint(p, n, i, &x)
                if i < 0:
                    err = 1
                    break
                if x == 0 or (w > 0 and (x >> (64 - w)) != 0):
                    err = 3
                    break
                blk[pos] = blk[pos] + (x << w)
            if err:
                break
            k += cnt
        if not err and i != n:
            err = 5
    if err == 1:
        raise corrupt("L4 bit-packing", "payload truncated")
    if err == 2:
        raise corrupt("L4 bit-packing", "invalid bit width")
    if err == 3:
        raise corrupt("L4 bit-packing", "invalid exception list")
    if err == 4:
        raise corrupt("L4 bit-packing", "non-zero padding in packed block")
    if err == 5:
        raise corrupt("L4 bit-packing", "trailing bytes after payload")
    return out
