# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""L5 run-length coding with a pattern catalog.

A *run* is a stretch of at least ``MINRUN`` bytes that repeats a unit of 1..8 bytes (the last
repetition may be partial), e.g. zero padding, blanks in fixed records, ``-=-=-=`` rulers or
repeated 4-byte words.  The encoder finds the longest run at every position (shortest unit
on ties), sums the bytes every distinct unit would save, keeps the 256 most profitable units
as the catalog and turns every other run back into literals.

Format::

    varint  K                     number of catalog entries (1..256)
    K x     u8 period p (1..8), p bytes unit
    tokens  repeated until out_len bytes are produced:
              varint literal length, literal bytes          (stop if complete)
              u8 catalog index (omitted when K == 1), varint run length - MINRUN
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

from cobol_codec.codecs.common cimport corrupt, get_varint, put_varint, varint_len

DEF MAXP = 8
DEF MINRUN = 8
DEF MAXCAT = 256


cdef Py_ssize_t find_runs(const uint8_t *d, Py_ssize_t n, Py_ssize_t *rs, Py_ssize_t *rl,
                          uint8_t *rp) noexcept nogil:
    """Greedy scan; fills start/length/period arrays, returns the number of runs."""
    cdef Py_ssize_t i = 0, j, L, best, nr = 0
    cdef int p, bp
    while i + MINRUN <= n:
        best = 0
        bp = 0
        for p in range(1, MAXP + 1):
            if i + p >= n or d[i + p] != d[i]:
                continue
            j = i + p
            while j < n and d[j] == d[j - p]:
                j += 1
            L = j - i
            if L > best:
                best = L
                bp = p
        if best >= MINRUN and best >= 2 * bp:
            rs[nr] = i
            rl[nr] = best
            rp[nr] = <uint8_t>bp
            nr += 1
            i += best
        else:
            i += 1
    return nr


def rle_encode(data):
    """Run-length encode with a pattern catalog.  Returns bytes, or None if not worth it."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef Py_ssize_t n = src.shape[0]
    if n < MINRUN:
        return None
    cdef Py_ssize_t maxruns = n // MINRUN + 1
    cdef Py_ssize_t *rs = <Py_ssize_t *>malloc(maxruns * sizeof(Py_ssize_t))
    cdef Py_ssize_t *rl = <Py_ssize_t *>malloc(maxruns * sizeof(Py_ssize_t))
    cdef uint8_t *rp = <uint8_t *>malloc(maxruns)
    cdef int *ri = <int *>malloc(maxruns * sizeof(int))
    if rs == NULL or rl == NULL or rp == NULL or ri == NULL:
        free(rs); free(rl); free(rp); free(ri)
        raise MemoryError()
    cdef Py_ssize_t nr, r, k, lit_start, ln
    cdef uint8_t *o = NULL
    cdef const uint8_t *d = &src[0]
    try:
        with nogil:
            nr = find_runs(d, n, rs, rl, rp)
        if nr == 0:
            return None
        # benefit per unit: bytes saved by its runs (run length minus token cost)
        benefit = {}
        keys = []
        for r in range(nr):
            key = bytes(d[rs[r]:rs[r] + rp[r]])
            keys.append(key)
            benefit[key] = benefit.get(key, 0) + rl[r] - 2 - varint_len(rl[r] - MINRUN)
        ranked = sorted(benefit.items(), key=lambda kv: (-kv[1], kv[0]))
        catalog = [u for u, b in ranked[:MAXCAT] if b > 0]
        if not catalog:
            return None
        index = {u: j for j, u in enumerate(catalog)}
        for r in range(nr):
            ri[r] = index.get(keys[r], -1)
        del keys
        K = len(catalog)
        o = <uint8_t *>malloc(n + 16 + 9 * MAXCAT + 16)
        if o == NULL:
            raise MemoryError()
        k = put_varint(o, 0, K)
        for u in catalog:
            o[k] = <uint8_t>len(u)
            k += 1
            for ch in u:
                o[k] = ch
                k += 1
        with nogil:
            lit_start = 0
            for r in range(nr):
                if ri[r] < 0:
                    continue
                if k + (rs[r] - lit_start) + 24 > n:
                    k = n  # no gain: give up
                    break
                ln = rs[r] - lit_start
                k = put_varint(o, k, ln)
                memcpy(o + k, d + lit_start, ln)
                k += ln
                if K > 1:
                    o[k] = <uint8_t>ri[r]
                    k += 1
                k = put_varint(o, k, rl[r] - MINRUN)
                lit_start = rs[r] + rl[r]
            if k < n and lit_start < n:
                ln = n - lit_start
                if k + ln + 10 <= n:
                    k = put_varint(o, k, ln)
                    memcpy(o + k, d + lit_start, ln)
                    k += ln
                else:
                    k = n
        if k >= n or n - k < 16 or k * 100 > n * 97:
            return None
        return PyBytes_FromStringAndSize(<char *>o, k)
    finally:
        free(rs); free(rl); free(rp); free(ri); free(o)


cdef int run_tokens(const uint8_t *p, Py_ssize_t n, Py_ssize_t i, int K, const uint8_t *per,
                    const uint8_t *units, uint8_t *o, Py_ssize_t out_len) noexcept nogil:
    """Walk the token stream; writes into ``o`` unless it is NULL.  Returns an error code."""
    cdef Py_ssize_t op = 0, ln, c, t
    cdef int idx, up
    cdef uint64_t v
    while True:
        i = get_varint(p, n, i, &v)
        if i < 0:
            return 1
        if v > <uint64_t>(out_len - op) or v > <uint64_t>(n - i):
            return 2
        ln = <Py_ssize_t>v
        if o != NULL:
            memcpy(o + op, p + i, ln)
        op += ln
        i += ln
        if op == out_len:
            break
        idx = 0
        if K > 1:
            if i >= n:
                return 1
            idx = p[i]
            i += 1
            if idx >= K:
                return 3
        i = get_varint(p, n, i, &v)
        if i < 0:
            return 1
        if v > <uint64_t>(out_len - op) or v + MINRUN > <uint64_t>(out_len - op):
            return 2
        ln = <Py_ssize_t>v + MINRUN
        if o != NULL:
            up = per[idx]
            if up == 1:
                memset(o + op, units[idx * MAXP], ln)
            else:
                c = up if up < ln else ln
                memcpy(o + op, units + idx * MAXP, c)
                while c < ln:
                    t = c if c < ln - c else ln - c
                    memcpy(o + op + c, o + op, t)
                    c += t
        op += ln
        if op == out_len:
            break
    if i != n:
        return 4
    return 0


def rle_decode(data, Py_ssize_t out_len):
    """Inverse of :func:`rle_encode`; ``out_len`` is the exact decoded size."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef Py_ssize_t n = src.shape[0]
    if out_len < 0:
        raise corrupt("L5 RLE", "negative output size")
    if out_len == 0:
        if n:
            raise corrupt("L5 RLE", "payload for empty output")
        return b""
    cdef const uint8_t *p = &src[0] if n else NULL
    if n == 0:
        raise corrupt("L5 RLE", "truncated catalog")
    cdef uint64_t K, v
    cdef Py_ssize_t i = get_varint(p, n, 0, &K)
    if i < 0 or K == 0 or K > MAXCAT:
        raise corrupt("L5 RLE", "invalid catalog size")
    cdef uint8_t units[MAXCAT][MAXP]
    cdef uint8_t per[MAXCAT]
    cdef Py_ssize_t j
    for j in range(<Py_ssize_t>K):
        if i >= n:
            raise corrupt("L5 RLE", "truncated catalog")
        per[j] = p[i]
        i += 1
        if per[j] < 1 or per[j] > MAXP:
            raise corrupt("L5 RLE", "invalid unit period")
        if i + per[j] > n:
            raise corrupt("L5 RLE", "truncated catalog")
        memcpy(units[j], p + i, per[j])
        i += per[j]
    # pass 1 validates the token stream without writing; pass 2 decodes
    cdef int err
    cdef Py_ssize_t body = i
    cdef uint8_t *o
    with nogil:
        err = run_tokens(p, n, body, <int>K, per, &units[0][0], NULL, out_len)
    if err == 0:
        out = PyBytes_FromStringAndSize(NULL, out_len)
        o = <uint8_t *>PyBytes_AS_STRING(out)
        with nogil:
            err = run_tokens(p, n, body, <int>K, per, &units[0][0], o, out_len)
    if err == 1:
        raise corrupt("L5 RLE", "payload truncated")
    if err == 2:
        raise corrupt("L5 RLE", "run or literal exceeds the output size")
    if err == 3:
        raise corrupt("L5 RLE", "catalog index out of range")
    if err == 4:
        raise corrupt("L5 RLE", "trailing bytes after payload")
    return out
