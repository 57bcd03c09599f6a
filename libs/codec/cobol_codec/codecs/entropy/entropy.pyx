# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""L7 entropy coding: canonical length-limited Huffman and a context-mixing (CM) coder.

Huffman format (``huffman_encode``)::

    bitmap[32]              which byte values occur (bit s&7 of byte s>>3)
    nibbles[ceil(k/2)]      code length (1..12) of each present symbol, ascending symbol order,
                            low nibble first
    payload                 canonical codes, MSB-first, zero padded to a byte

Compact Huffman format (``huffman_encode(data, compact=True)``, coders 4 and 5): the same
codes and payload, but the table is a nibble stream (low nibble first, zero padded to a
byte) walking the symbols from 0: ``1..12`` the code length of the next symbol, ``0`` one
absent symbol, ``13 n`` 2+n absent symbols, ``14 a b`` 18+a+16b absent symbols, ``15`` the
rest are absent (omitted when symbol 255 is present). Small frames have small alphabets,
so this costs 10-50 bytes where the bitmap always costs 32 plus the lengths.

CM format (``cm_encode``)::

    crc32(data)[4, LE]      checked by the decoder
    payload                 32-bit carryless binary arithmetic code of the bits of ``data``

The CM model predicts each bit from hashed order-1,2,3,4,6 contexts, a word context, a
word-bigram context (level 2), an order-0 counter and a match model.  Every context slot
is a 22-bit probability with an adaptive-rate count, kept in 64-byte nibble buckets with a
16-bit checksum (lpaq-style layout, least-used-of-three replacement); order 1 is a direct
table (17 buckets per previous byte), the hashed tables are sized from the input length
(about 1 bucket per 4 bytes, at most 2^18 buckets).  While a bit is being coded, the model
prefetches what the next bit needs for both values of that bit (the APM row, at bit 3 the
next nibble's buckets, at bit 7 the next byte's buckets and match-table slot), so the cache
misses overlap with the work.  The mixers use int32 weights (clamped to +-8.0) and int32
dot products, which the compiler vectorises.  The predictions
are combined by three gated logistic mixers (weights selected by the partial byte, by the
match state, and by how many contexts have statistics), a small final mixer, and two
APM/SSE stages (order 0 and order 1).  Level 1 uses orders 1-4 and the match model only.
The model is deterministic integer arithmetic, so encoder and decoder stay in lock-step.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

import zlib

from cobol_codec.codecs.common cimport corrupt

cdef extern from *:
    uint64_t __builtin_bswap64(uint64_t) nogil
    void __builtin_prefetch(const void *) nogil

cdef extern from *:
    """
    #include <sys/mman.h>
    #include <stdlib.h>
    /* Zeroed allocation for the big model tables: anonymous mmap (lazily zeroed by the
       kernel, transparent huge pages requested where available), malloc-free fallback. */
    static void *l7_big_alloc(size_t n, size_t *rawlen) {
        size_t align = (size_t)1 << 21;
        if (n >= align) {
            size_t len = n + align;
            void *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (raw != MAP_FAILED) {
                char *a = (char *)(((size_t)raw + align - 1) & ~(align - 1));
    #ifdef MADV_HUGEPAGE
                madvise(a, n, MADV_HUGEPAGE);
    #endif
                *rawlen = len;
                return raw;
            }
        }
        *rawlen = 0;
        return calloc(n + 64, 1);
    }
    static char *l7_big_aligned(void *raw, size_t rawlen) {
        size_t align = rawlen ? ((size_t)1 << 21) : 64;
        return (char *)(((size_t)raw + align - 1) & ~(align - 1));
    }
    static void l7_big_free(void *raw, size_t rawlen) {
        if (raw == NULL) return;
        if (rawlen) munmap(raw, rawlen); else free(raw);
    }
    """
    void *l7_big_alloc(size_t n, size_t *rawlen) nogil
    char *l7_big_aligned(void *raw, size_t rawlen) nogil
    void l7_big_free(void *raw, size_t rawlen) nogil


# ---------------------------------------------------------------------------------------------
# Huffman
# ---------------------------------------------------------------------------------------------

DEF HMAX = 12            # maximum code length
DEF HTAB = 4096          # 1 << HMAX


cdef void _huff_lengths(const uint64_t *freqs, uint8_t *lens) noexcept nogil:
    """Huffman code lengths limited to HMAX bits, in C (no per-call Python work).

    Two-queue Huffman over the symbols sorted by (frequency, symbol): on equal weights a leaf
    is merged before an internal node and internal nodes in creation order, the same ties a
    heap keyed on (weight, leaf symbol < internal serial) breaks. Then the length-limiting
    repair of the Kraft sum, and the shortest codes to the most frequent symbols."""
    cdef int syms[256]
    cdef uint64_t w[512]
    cdef int parent[512]
    cdef int depth[512]
    cdef int bl[HMAX + 1]
    cdef int n = 0, i, j, s, t, li, ii, nxt, a, b, k, total
    memset(lens, 0, 256)
    for s in range(256):
        if freqs[s] > 0:
            syms[n] = s
            n += 1
    if n == 0:
        return
    if n == 1:
        lens[syms[0]] = 1
        return
    # insertion sort by (freq, sym) ascending: n <= 256
    for i in range(1, n):
        t = syms[i]
        j = i - 1
        while j >= 0 and freqs[syms[j]] > freqs[t]:
            syms[j + 1] = syms[j]
            j -= 1
        syms[j + 1] = t
    for i in range(n):
        w[i] = freqs[syms[i]]
    li = 0
    ii = n
    nxt = n
    while nxt < 2 * n - 1:
        # pick the two smallest of the leaf queue [li, n) and the internal queue [ii, nxt)
        if li < n and (ii >= nxt or w[li] <= w[ii]):
            a = li
            li += 1
        else:
            a = ii
            ii += 1
        if li < n and (ii >= nxt or w[li] <= w[ii]):
            b = li
            li += 1
        else:
            b = ii
            ii += 1
        w[nxt] = w[a] + w[b]
        parent[a] = nxt
        parent[b] = nxt
        nxt += 1
    depth[2 * n - 2] = 0
    for i in range(2 * n - 3, -1, -1):
        depth[i] = depth[parent[i]] + 1
    memset(bl, 0, sizeof(bl))
    for i in range(n):
        bl[depth[i] if depth[i] < HMAX else HMAX] += 1
    total = 0
    for i in range(1, HMAX + 1):
        total += bl[i] << (HMAX - i)
    while total > (1 << HMAX):
        bl[HMAX] -= 1
        for i in range(HMAX - 1, 0, -1):
            if bl[i]:
                bl[i] -= 1
                bl[i + 1] += 2
                break
        total -= 1
    # most frequent symbols first, ties by symbol: sort by (-freq, sym)
    for i in range(1, n):
        t = syms[i]
        j = i - 1
        while j >= 0 and (freqs[syms[j]] < freqs[t] or (freqs[syms[j]] == freqs[t] and syms[j] > t)):
            syms[j + 1] = syms[j]
            j -= 1
        syms[j + 1] = t
    k = 0
    for i in range(1, HMAX + 1):
        for j in range(bl[i]):
            lens[syms[k]] = <uint8_t>i
            k += 1


def _limited_lengths(list freqs):
    """Huffman code lengths (limited to HMAX bits) for a 256-entry frequency list."""
    cdef uint64_t f[256]
    cdef uint8_t lens[256]
    cdef int s
    for s in range(256):
        f[s] = freqs[s]
    _huff_lengths(f, lens)
    return [lens[s] for s in range(256)]


cdef int _canonical(const uint8_t *lens, uint32_t *codes) noexcept nogil:
    """Assign canonical codes; returns the Kraft sum scaled to 1 << HMAX."""
    cdef int blc[HMAX + 2]
    cdef int nxt[HMAX + 2]
    cdef int i, s, code = 0, kraft = 0
    memset(blc, 0, sizeof(blc))
    for s in range(256):
        blc[lens[s]] += 1
    blc[0] = 0
    for i in range(1, HMAX + 1):
        code = (code + blc[i - 1]) << 1
        nxt[i] = code
        kraft += blc[i] << (HMAX - i)
    for s in range(256):
        if lens[s]:
            codes[s] = nxt[lens[s]]
            nxt[lens[s]] += 1
    return kraft


cdef int _compact_nibbles(const uint8_t *lens, uint8_t *nib) noexcept nogil:
    """The compact table (see the module docstring) as nibbles; returns how many."""
    cdef int s = 0, n = 0, last = 255, run, k
    while last >= 0 and lens[last] == 0:
        last -= 1
    while s <= last:
        if lens[s]:
            nib[n] = lens[s]
            n += 1
            s += 1
            continue
        run = 0
        while lens[s + run] == 0:          # ends before `last`, which is present
            run += 1
        s += run
        while run >= 18:
            k = run if run <= 273 else 273
            nib[n] = 14
            nib[n + 1] = <uint8_t>((k - 18) & 15)
            nib[n + 2] = <uint8_t>((k - 18) >> 4)
            n += 3
            run -= k
        if run >= 2:
            nib[n] = 13
            nib[n + 1] = <uint8_t>(run - 2)
            n += 2
        elif run == 1:
            nib[n] = 0
            n += 1
    if last < 255:
        nib[n] = 15
        n += 1
    return n


def huffman_encode(data, bint compact=False):
    """Canonical Huffman (max 12-bit codes).  Returns bytes, or None if it does not shrink.
    `compact` writes the nibble-run table of coders 4 and 5 instead of the 32-byte bitmap."""
    cdef int used
    return _huff_enc(data, 1 if compact else 0, &used)


def huffman_encode_smallest(data):
    """(compact, bytes) with whichever table is smaller (the compact one on a tie), or None
    if Huffman does not shrink the data. Dense alphabets with scattered gaps are cheaper as
    a bitmap; the small alphabets of small frames as runs."""
    cdef int used = 0
    out = _huff_enc(data, 2, &used)
    return None if out is None else (bool(used), out)


cdef object _huff_enc(data, int mode, int *used):
    """mode 0: bitmap table, 1: compact table, 2: the smaller; `used` says which was written."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef Py_ssize_t n = src.shape[0], i
    if n == 0:
        return None
    cdef uint64_t hist[4][256]
    memset(hist, 0, sizeof(hist))
    with nogil:
        i = 0
        while i + 4 <= n:
            hist[0][src[i]] += 1
            hist[1][src[i + 1]] += 1
            hist[2][src[i + 2]] += 1
            hist[3][src[i + 3]] += 1
            i += 4
        while i < n:
            hist[0][src[i]] += 1
            i += 1
    cdef uint64_t freqs[256]
    cdef uint8_t lens[256]
    cdef uint32_t codes[256]
    cdef int s, k = 0
    cdef uint64_t bits = 0
    for s in range(256):
        freqs[s] = hist[0][s] + hist[1][s] + hist[2][s] + hist[3][s]
    _huff_lengths(freqs, lens)
    for s in range(256):
        if lens[s]:
            k += 1
            bits += <uint64_t>freqs[s] * lens[s]
    cdef uint8_t nib[520]
    cdef int nn = 0
    cdef Py_ssize_t hdr
    cdef bint compact = mode == 1
    if mode != 0:
        nn = _compact_nibbles(lens, nib)
        compact = mode == 1 or (nn + 1) // 2 <= 32 + (k + 1) // 2
    used[0] = compact
    hdr = (nn + 1) // 2 if compact else 32 + (k + 1) // 2
    cdef Py_ssize_t plen = <Py_ssize_t>((bits + 7) >> 3)
    if hdr + plen >= n:
        return None
    _canonical(lens, codes)
    out = PyBytes_FromStringAndSize(NULL, hdr + plen)
    cdef uint8_t *o = <uint8_t *>PyBytes_AS_STRING(out)
    memset(o, 0, hdr)
    if compact:
        for k in range(nn):
            o[k >> 1] |= <uint8_t>(nib[k] << (4 * (k & 1)))
    else:
        k = 0
        for s in range(256):
            if lens[s]:
                o[s >> 3] |= <uint8_t>(1 << (s & 7))
                o[32 + (k >> 1)] |= <uint8_t>(lens[s] << (4 * (k & 1)))
                k += 1
    cdef uint8_t *p = o + hdr
    cdef uint64_t acc = 0
    cdef int nb = 0
    cdef uint32_t c
    with nogil:
        for i in range(n):
            c = src[i]
            acc = (acc << lens[c]) | codes[c]
            nb += lens[c]
            if nb >= 32:
                nb -= 32
                c = <uint32_t>(acc >> nb)
                p[0] = <uint8_t>(c >> 24)
                p[1] = <uint8_t>(c >> 16)
                p[2] = <uint8_t>(c >> 8)
                p[3] = <uint8_t>c
                p += 4
        while nb >= 8:
            nb -= 8
            p[0] = <uint8_t>(acc >> nb)
            p += 1
        if nb > 0:
            p[0] = <uint8_t>(acc << (8 - nb))
            p += 1
    if p - o != hdr + plen:  # pragma: no cover - internal consistency
        raise AssertionError("huffman size mismatch")
    return out


cdef Py_ssize_t _read_compact(const uint8_t *src, Py_ssize_t n, uint8_t *lens, int *present) noexcept nogil:
    """Reads a compact table into lens[256]; returns its size in bytes, or -1 (truncated),
    -2 (a run past symbol 255), -3 (non-zero padding)."""
    cdef Py_ssize_t pos = 0          # in nibbles
    cdef int s = 0, v, run, k = 0
    memset(lens, 0, 256)
    while s < 256:
        if (pos >> 1) >= n:
            return -1
        v = (src[pos >> 1] >> (4 * (pos & 1))) & 15
        pos += 1
        if v == 15:
            break
        if 1 <= v <= 12:
            lens[s] = <uint8_t>v
            s += 1
            k += 1
            continue
        if v == 0:
            run = 1
        elif v == 13:
            if (pos >> 1) >= n:
                return -1
            run = 2 + ((src[pos >> 1] >> (4 * (pos & 1))) & 15)
            pos += 1
        else:
            if ((pos + 1) >> 1) >= n:
                return -1
            run = 18 + ((src[pos >> 1] >> (4 * (pos & 1))) & 15)
            pos += 1
            run += ((src[pos >> 1] >> (4 * (pos & 1))) & 15) << 4
            pos += 1
        if s + run > 256:
            return -2
        s += run
    if pos & 1 and (src[pos >> 1] >> 4):
        return -3
    present[0] = k
    return (pos + 1) >> 1


def huffman_decode(data, Py_ssize_t out_len, bint compact=False):
    """Inverse of :func:`huffman_encode` (the same `compact`); ``out_len`` is the exact
    decoded size."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef Py_ssize_t n = src.shape[0]
    if out_len < 0:
        raise corrupt("L7 Huffman", "negative output size")
    if out_len == 0:
        if n != 0:
            raise corrupt("L7 Huffman", "payload for empty output")
        return b""
    cdef uint8_t lens[256]
    cdef uint32_t codes[256]
    cdef int s, k = 0, l
    cdef Py_ssize_t hdr
    if compact:
        hdr = _read_compact(&src[0], n, lens, &k)
        if hdr == -1:
            raise corrupt("L7 Huffman", "truncated header")
        if hdr == -2:
            raise corrupt("L7 Huffman", "table runs past symbol 255")
        if hdr == -3:
            raise corrupt("L7 Huffman", "non-zero header padding")
        if k == 0:
            raise corrupt("L7 Huffman", "table has no symbol")
    else:
        if n < 33:
            raise corrupt("L7 Huffman", "truncated header")
        for s in range(256):
            if src[s >> 3] & (1 << (s & 7)):
                k += 1
        hdr = 32 + (k + 1) // 2
        if k == 0 or n < hdr:
            raise corrupt("L7 Huffman", "truncated header")
        k = 0
        for s in range(256):
            lens[s] = 0
            if src[s >> 3] & (1 << (s & 7)):
                l = (src[32 + (k >> 1)] >> (4 * (k & 1))) & 15
                if l == 0 or l > HMAX:
                    raise corrupt("L7 Huffman", "invalid code length")
                lens[s] = l
                k += 1
        if k & 1 and (src[32 + (k >> 1)] >> 4):
            raise corrupt("L7 Huffman", "non-zero header padding")
    cdef int kraft = _canonical(lens, codes)
    if k == 1:
        s = 0
        while lens[s] == 0:
            s += 1
        if lens[s] != 1:
            raise corrupt("L7 Huffman", "invalid single-symbol code")
    elif kraft != HTAB:
        raise corrupt("L7 Huffman", "code lengths are not a complete prefix code")
    cdef Py_ssize_t plen = n - hdr
    if out_len > plen * 8:
        raise corrupt("L7 Huffman", "payload too short for output size")
    # decode table: entry = sym << 4 | len, 0 = invalid
    cdef uint16_t table[HTAB]
    cdef uint32_t j, lo, hi
    memset(table, 0, sizeof(table))
    for s in range(256):
        l = lens[s]
        if l:
            lo = codes[s] << (HMAX - l)
            hi = lo + (1u << (HMAX - l))
            for j in range(lo, hi):
                table[j] = <uint16_t>((s << 4) | l)
    out = PyBytes_FromStringAndSize(NULL, out_len)
    cdef uint8_t *o = <uint8_t *>PyBytes_AS_STRING(out)
    cdef const uint8_t *p = &src[hdr]
    cdef uint64_t bitpos = 0, v, totbits = <uint64_t>plen * 8
    cdef Py_ssize_t oi = 0
    cdef int bad = 0, r
    cdef uint16_t e
    cdef uint32_t peek
    cdef Py_ssize_t bi
    with nogil:
        # fast path: 8 readable bytes from the current byte position
        while oi + 4 <= out_len and <Py_ssize_t>(bitpos >> 3) + 8 <= plen:
            memcpy(&v, p + (bitpos >> 3), 8)
            v = __builtin_bswap64(v) << (bitpos & 7)
            for r in range(4):
                e = table[v >> (64 - HMAX)]
                if e == 0:
                    bad = 1
                    break
                o[oi] = <uint8_t>(e >> 4)
                oi += 1
                v <<= (e & 15)
                bitpos += (e & 15)
            if bad:
                break
        # tail: byte-wise peek with zero padding
        while not bad and oi < out_len:
            bi = <Py_ssize_t>(bitpos >> 3)
            peek = 0
            for r in range(3):
                peek <<= 8
                if bi + r < plen:
                    peek |= p[bi + r]
            peek = (peek >> (12 - (bitpos & 7))) & (HTAB - 1)
            e = table[peek]
            if e == 0:
                bad = 1
                break
            o[oi] = <uint8_t>(e >> 4)
            oi += 1
            bitpos += (e & 15)
            if bitpos > totbits:
                bad = 2
                break
    if bad == 1:
        raise corrupt("L7 Huffman", "invalid code in payload")
    if bitpos > totbits:
        raise corrupt("L7 Huffman", "payload truncated")
    if <Py_ssize_t>((bitpos + 7) >> 3) != plen:
        raise corrupt("L7 Huffman", "trailing bytes after payload")
    return out


# ---------------------------------------------------------------------------------------------
# Context mixing
# ---------------------------------------------------------------------------------------------

DEF MAXC = 10          # max hashed contexts
DEF MAXIN = 16         # max mixer inputs (multiple of 4)
DEF MINLEN = 6         # match model: bytes hashed to find a candidate
DEF MAXVERIFY = 64     # match model: max bytes verified backwards

cdef int _squash_t[4096]     # stretch-domain (-2048..2047) -> 12-bit probability
cdef int _stretch_t[4096]    # 12-bit probability -> stretch domain
cdef int _dtab[1024]         # adaptive learning rate 65536 / (n + 1.5)

cdef int _SQ_PTS[33]
_pts = [1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994,
        3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095]


cdef void _init_tables():
    cdef int i, d, w, pi, v, j
    for i in range(33):
        _SQ_PTS[i] = _pts[i]
    for i in range(4096):
        d = i - 2048
        if d > 2047:
            d = 2047
        if d < -2047:
            d = -2047
        w = d & 127
        j = (d >> 7) + 16
        _squash_t[i] = (_SQ_PTS[j] * (128 - w) + _SQ_PTS[j + 1] * w + 64) >> 7
    pi = 0
    for d in range(-2047, 2048):
        v = _squash_t[d + 2048]
        for j in range(pi, v + 1):
            _stretch_t[j] = d
        pi = v + 1
    for j in range(pi, 4096):
        _stretch_t[j] = 2047
    for i in range(1024):
        _dtab[i] = <int>(65536.0 * 2.0 / (2 * i + 3))


_init_tables()

# model parameters (tuned on canterbury+calgary; changing any of them changes the format)
DEF P_LIM_LO = 255
DEF P_LIM_HI = 30
DEF P_LR = 10
DEF P_WINIT = 20000
DEF P_APMR = 6
DEF P_FW = 1
DEF P_LIN = 0
DEF P_LRF = 4



cdef inline int squash(int d) noexcept nogil:
    if d > 2047:
        d = 2047
    elif d < -2047:
        d = -2047
    return _squash_t[d + 2048]


cdef inline uint32_t fmix(uint32_t h) noexcept nogil:
    h ^= h >> 16
    h *= 0x85EBCA6Bu
    h ^= h >> 13
    h *= 0xC2B2AE35u
    h ^= h >> 16
    return h


cdef inline uint32_t hash2(uint32_t a, uint32_t b) noexcept nogil:
    return fmix(a * 0x9E3779B1u + fmix(b + 0x7F4A7C15u))


cdef inline void upd(uint32_t *s, int y, int limit) noexcept nogil:
    cdef uint32_t v = s[0]
    cdef int n = v & 1023
    cdef int64_t p = v >> 10
    if y:
        p += ((4194304 - p) * _dtab[n]) >> 16
    else:
        p -= (p * _dtab[n]) >> 16
    if n < limit:
        n += 1
    s[0] = (<uint32_t>p << 10) | <uint32_t>n


DEF WLIM = 524287      # mixer weights are clamped to +-8.0 (1.0 = 65536) so int32 dot products cannot overflow
DEF TBMAX = 18         # hashed tables: at most 2^TBMAX buckets (16 MB) per context
DEF TBSHIFT = 0        # hashed tables: about 2^TBSHIFT / 4 buckets per input byte (orders 2+ need far
                       # fewer buckets than bytes; smaller tables cost < 0.2% and clear faster)


cdef struct Undo:
    # (address, old value) of every 32-bit word a primed model's big tables got written,
    # replayed backwards to bring the model back to its primed state after one record
    uint32_t **addr
    uint32_t *old
    size_t n
    size_t cap
    int overflow


cdef inline void undo_log(Undo *u, uint32_t *p) noexcept nogil:
    cdef size_t cap
    cdef uint32_t **a
    cdef uint32_t *o
    if u == NULL or u.overflow:
        return
    if u.n == u.cap:
        cap = u.cap * 2 if u.cap else 4096
        a = <uint32_t **>realloc(u.addr, cap * sizeof(uint32_t *))
        if a == NULL:
            u.overflow = 1
            return
        u.addr = a
        o = <uint32_t *>realloc(u.old, cap * sizeof(uint32_t))
        if o == NULL:
            u.overflow = 1
            return
        u.old = o
        u.cap = cap
    u.addr[u.n] = p
    u.old[u.n] = p[0]
    u.n += 1


cdef struct CM:
    Undo *undo           # set while a primed snapshot codes one record (NULL otherwise)
    int level
    int nctx             # contexts: [0] is the direct order-1 table, [1..nctx-1] are hashed
    int nin              # mixer inputs
    int nw               # mixer weight stride (nin rounded up to a multiple of 4)
    uint32_t *o1
    uint32_t *tab[MAXC]
    void *tabraw[MAXC]
    size_t tablen[MAXC]
    uint32_t nbmask
    uint32_t *cur[MAXC]
    uint32_t h[MAXC]
    uint32_t hc[2][MAXC]     # nibble-1 context hashes for both values of bit 3
    uint32_t hb[2][MAXC]     # next-byte context hashes for both values of bit 7
    int limit[MAXC]
    uint32_t t0[256]
    # match model
    uint32_t *mtab
    void *mtabraw
    size_t mtablen
    uint32_t mbits
    uint32_t mh
    uint32_t mptr
    uint32_t mlen
    int mbyte
    int mmiss
    int mbucket
    int msidx
    int mexp
    uint32_t msm[64]
    # mixers
    int32_t x[MAXIN]
    int32_t *w1
    int32_t *w2
    int32_t *w3
    int32_t wf[4 * 256]
    int32_t xf[4]
    int sel3
    int self_
    int dot3
    int pr3
    int prf
    int sel1
    int sel2
    int dot1
    int dot2
    int pr1
    int pr2
    int prm
    # APM
    uint16_t *a1
    uint16_t *a2
    int ai1
    int ai2
    int pr
    # state
    uint32_t c0
    uint32_t c4
    uint32_t c8
    int bitpos
    int nib
    uint32_t word0
    uint32_t word1
    uint8_t *buf
    size_t pos


cdef inline uint32_t *find_bucket(uint32_t *t, uint32_t nbmask, uint32_t hh, Undo *u) noexcept nogil:
    cdef uint32_t chk = ((hh * 0x2545F491u) >> 16) + 1
    cdef uint32_t i = hh & nbmask
    cdef uint32_t *b0 = t + ((<size_t>i) << 4)
    cdef uint32_t *b1 = t + ((<size_t>(i ^ 1)) << 4)
    cdef uint32_t *b2 = t + ((<size_t>(i ^ 2)) << 4)
    cdef uint32_t *b
    cdef int j
    if b0[0] == chk:
        return b0
    if b1[0] == chk:
        return b1
    if b2[0] == chk:
        return b2
    # replace the least used of the three (empty buckets have priority 0)
    b = b0
    if b[0] != 0:
        if b1[0] == 0 or (b1[1] & 1023) < (b[1] & 1023):
            b = b1
        if b[0] != 0 and (b2[0] == 0 or (b2[1] & 1023) < (b[1] & 1023)):
            b = b2
    if u != NULL:
        for j in range(16):
            undo_log(u, b + j)
    b[0] = chk
    for j in range(1, 16):
        b[j] = 0x80000000u
    return b


cdef inline void set_buckets(CM *m) noexcept nogil:
    cdef int i
    cdef uint32_t hh
    cdef uint32_t hs[MAXC]
    cdef uint32_t *t
    cdef uint32_t bi
    # hash and prefetch every candidate bucket first so the cache misses overlap
    for i in range(1, m.nctx):
        if m.bitpos == 0:
            hh = m.h[i]
        else:
            hh = m.hc[m.c0 & 1][i]
        hs[i] = hh
        t = m.tab[i]
        bi = hh & m.nbmask
        __builtin_prefetch(t + ((<size_t>bi) << 4))
        __builtin_prefetch(t + ((<size_t>(bi ^ 1)) << 4))
        __builtin_prefetch(t + ((<size_t>(bi ^ 2)) << 4))
    # order 1 is indexed directly: 17 buckets per previous byte (1 + one per high nibble)
    if m.bitpos == 0:
        m.cur[0] = m.o1 + (<size_t>(m.c4 & 0xFF) * 17) * 16
    else:
        m.cur[0] = m.o1 + (<size_t>(m.c4 & 0xFF) * 17 + 1 + (m.c0 & 15)) * 16
    for i in range(1, m.nctx):
        m.cur[i] = find_bucket(m.tab[i], m.nbmask, hs[i], m.undo)


cdef inline void byte_update(CM *m, int c) noexcept nogil:
    cdef uint32_t c4, c8, cand, l, hi
    cdef int lc
    m.buf[m.pos] = <uint8_t>c
    m.pos += 1
    m.c8 = (m.c8 << 8) | (m.c4 >> 24)
    m.c4 = (m.c4 << 8) | <uint32_t>c
    c4 = m.c4
    c8 = m.c8
    # match model: hash of the last MINLEN bytes -> last position (prefetched early)
    m.mh = ((m.mh << 5) ^ <uint32_t>c) & 0x3FFFFFFFu
    hi = (m.mh * 0x9E3779B1u) >> (32 - m.mbits)
    __builtin_prefetch(m.mtab + hi)
    # word contexts (alphanumeric runs, case folded)
    lc = c
    if lc >= 65 and lc <= 90:
        lc += 32
    if (lc >= 97 and lc <= 122) or (lc >= 48 and lc <= 57) or lc >= 128:
        m.word0 = (m.word0 + <uint32_t>lc + 1) * 0x2F0F3F1Du
    elif m.word0:
        m.word1 = m.word0
        m.word0 = 0
    # context hashes: computed (for both values of the last bit) by _prefetch_next at bit 7
    memcpy(&m.h[1], &m.hb[c & 1][1], (m.nctx - 1) * sizeof(uint32_t))
    set_buckets(m)
    if m.mlen > 0 and m.mmiss == 0:
        m.mlen += 1
        if m.mlen > 65535:
            m.mlen = 65535
        m.mptr += 1
    else:
        m.mlen = 0
    if m.pos >= MINLEN:
        if m.mlen == 0:
            cand = m.mtab[hi]
            if cand > 0:
                l = 0
                while l < MAXVERIFY and l < cand and m.buf[cand - 1 - l] == m.buf[m.pos - 1 - l]:
                    l += 1
                if l >= MINLEN:
                    m.mlen = l
                    m.mptr = cand
        if m.undo != NULL:
            undo_log(m.undo, m.mtab + hi)
        m.mtab[hi] = <uint32_t>m.pos
    m.mmiss = 0
    if m.mlen > 0:
        m.mbyte = m.buf[m.mptr]
        l = m.mlen
        if l < 16:
            m.mbucket = l
        elif l < 32:
            m.mbucket = 16 + ((l - 16) >> 2)
        elif l < 64:
            m.mbucket = 20 + ((l - 32) >> 3)
        elif l < 512:
            m.mbucket = 24 + ((l - 64) >> 6)
        else:
            m.mbucket = 31


cdef inline int mix_dot(const int32_t *x, const int32_t *w, int n) noexcept nogil:
    """Clamped dot product (stretch domain); int32 arithmetic, vectorisable."""
    cdef int i
    cdef int32_t s = 0
    for i in range(n):
        s += (x[i] * w[i]) >> 8
    s >>= 8
    if s > 2047:
        s = 2047
    elif s < -2047:
        s = -2047
    return s


cdef inline void train(int32_t *w, const int32_t *x, int n, int32_t err) noexcept nogil:
    cdef int i
    cdef int32_t v
    for i in range(n):
        v = w[i] + ((x[i] * err + 8192) >> 14)
        if v > WLIM:
            v = WLIM
        elif v < -WLIM:
            v = -WLIM
        w[i] = v


cdef inline void _mix3(CM *m, int nknown) noexcept nogil:
    # mixer 1: selected by the partial byte (order 0)
    m.sel1 = m.c0 * m.nw
    m.dot1 = mix_dot(m.x, m.w1 + m.sel1, m.nw)
    m.pr1 = squash(m.dot1)
    # mixer 2: selected by match state and bit position
    m.dot2 = mix_dot(m.x, m.w2 + m.sel2, m.nw)
    m.pr2 = squash(m.dot2)
    # mixer 3: selected by how many contexts (order 2+) have statistics
    m.sel3 = (nknown * 8 + m.bitpos) * m.nw
    m.dot3 = mix_dot(m.x, m.w3 + m.sel3, m.nw)
    m.pr3 = squash(m.dot3)
    # final mixer over the three mixer outputs
    m.xf[0] = m.dot1
    m.xf[1] = m.dot2
    m.xf[2] = m.dot3
    m.xf[3] = 256
    m.self_ = m.c0 * 4
    m.prf = squash(mix_dot(m.xf, m.wf + m.self_, 4))
    m.prm = m.prf


cdef inline int cm_predict(CM *m) noexcept nogil:
    cdef int i, k = 0, e, st
    cdef int nib = m.nib
    cdef uint32_t cv
    cdef int nknown = 0
    for i in range(m.nctx):
        cv = m.cur[i][nib]
        m.x[k] = _stretch_t[cv >> 20]
        k += 1
        if i >= 1 and (cv & 1023) != 0:
            nknown += 1
    m.x[k] = _stretch_t[m.t0[m.c0] >> 20]
    k += 1
    m.sel2 = 0
    m.msidx = -1
    if m.mlen > 0 and m.mmiss == 0:
        e = (m.mbyte >> (7 - m.bitpos)) & 1
        m.mexp = e
        m.msidx = m.mbucket * 2 + e
        st = _stretch_t[m.msm[m.msidx] >> 20]
        m.x[k] = st
        i = m.mlen
        if i > 32:
            i = 32
        m.x[k + 1] = (2 * e - 1) * i * 32
        m.sel2 = 1 + m.msidx
    else:
        m.x[k] = 0
        m.x[k + 1] = 0
    k += 2
    m.x[k] = 256
    m.sel2 = (m.sel2 * 8 + m.bitpos) * m.nw
    _mix3(m, nknown)
    # APM / SSE
    cdef int s = _stretch_t[m.prm] + 2048
    cdef int lo = s >> 7, wt = s & 127
    cdef int base = m.c0 * 33 + lo
    m.ai1 = base + (wt >> 6)
    cdef int p1 = (m.a1[base] * (128 - wt) + m.a1[base + 1] * wt) >> 11
    base = (((m.c4 & 0xFF) << 8) | m.c0) * 33 + lo
    m.ai2 = base + (wt >> 6)
    cdef int p2 = (m.a2[base] * (128 - wt) + m.a2[base + 1] * wt) >> 11
    cdef int p = (P_FW * m.prm + (4 - P_FW) * ((p1 + p2) >> 1) + 2) >> 2
    if p < 1:
        p = 1
    elif p > 4095:
        p = 4095
    m.pr = p
    _prefetch_next(m)
    return p


cdef inline void _ctx_hashes(CM *m, uint32_t c, uint32_t *out) noexcept nogil:
    """Context hashes [1..nctx-1] after byte ``c`` (pure: the model state is not changed)."""
    cdef uint32_t c4 = (m.c4 << 8) | c
    cdef uint32_t c8 = (m.c8 << 8) | (m.c4 >> 24)
    cdef uint32_t w0 = m.word0, w1 = m.word1
    cdef uint32_t lc = c
    out[1] = hash2(2, c4 & 0xFFFF)
    out[2] = hash2(3, c4 & 0xFFFFFF)
    out[3] = hash2(4, c4)
    if m.level >= 2:
        if lc >= 65 and lc <= 90:
            lc += 32
        if (lc >= 97 and lc <= 122) or (lc >= 48 and lc <= 57) or lc >= 128:
            w0 = (w0 + lc + 1) * 0x2F0F3F1Du
        elif w0:
            w1 = w0
            w0 = 0
        out[4] = hash2(hash2(6, c4), c8 & 0xFFFF)
        if w0:
            out[5] = hash2(7, w0)
        else:
            out[5] = hash2(8, c4 & 0xFF)
        out[6] = hash2(hash2(9, w0), w1)


cdef inline void _prefetch_next(CM *m) noexcept nogil:
    """Prefetch what the next bit will touch, for both values of the bit being coded."""
    cdef uint32_t c0n = m.c0 << 1, c, row, hh, hi, mh
    cdef int i, y
    cdef uint32_t *t
    cdef char *a
    if m.bitpos == 7:
        for y in range(2):
            c = (c0n + <uint32_t>y) & 0xFF
            row = ((c << 8) | 1) * 33
            a = <char *>(m.a2 + row)
            __builtin_prefetch(a)
            __builtin_prefetch(a + 64)
            mh = ((m.mh << 5) ^ c) & 0x3FFFFFFFu
            hi = (mh * 0x9E3779B1u) >> (32 - m.mbits)
            __builtin_prefetch(m.mtab + hi)
            _ctx_hashes(m, c, m.hb[y])
            for i in range(1, m.nctx):
                __builtin_prefetch(m.tab[i] + ((<size_t>(m.hb[y][i] & m.nbmask)) << 4))
    else:
        for y in range(2):
            row = (((m.c4 & 0xFF) << 8) | (c0n + <uint32_t>y)) * 33
            a = <char *>(m.a2 + row)
            __builtin_prefetch(a)
            __builtin_prefetch(a + 64)
        if m.bitpos == 3:
            # the nibble-1 buckets: hash both candidates now, reuse them in set_buckets
            for i in range(1, m.nctx):
                t = m.tab[i]
                for y in range(2):
                    hh = hash2(m.h[i], c0n + <uint32_t>y)
                    m.hc[y][i] = hh
                    __builtin_prefetch(t + ((<size_t>(hh & m.nbmask)) << 4))


cdef inline void cm_update(CM *m, int y) noexcept nogil:
    cdef int i, nib = m.nib
    cdef int t
    if m.undo != NULL:
        for i in range(m.nctx):
            undo_log(m.undo, &m.cur[i][nib])
        # a2 is big: log the aligned 32-bit word holding the entry (a1 and the mixers are
        # small and restored whole)
        undo_log(m.undo, <uint32_t *>(<size_t>(m.a2 + m.ai2) & ~(<size_t>3)))
    for i in range(m.nctx):
        upd(&m.cur[i][nib], y, m.limit[i])
    upd(&m.t0[m.c0], y, 255)
    if m.msidx >= 0:
        upd(&m.msm[m.msidx], y, 1023)
        if y != m.mexp:
            m.mmiss = 1
    train(m.w1 + m.sel1, m.x, m.nw, ((y << 12) - m.pr1) * P_LR)
    train(m.w2 + m.sel2, m.x, m.nw, ((y << 12) - m.pr2) * P_LR)
    train(m.w3 + m.sel3, m.x, m.nw, ((y << 12) - m.pr3) * P_LR)
    train(m.wf + m.self_, m.xf, 4, ((y << 12) - m.prf) * P_LRF)
    t = m.a1[m.ai1]
    m.a1[m.ai1] = <uint16_t>(t + ((((y << 16) - y) - t) >> P_APMR))
    t = m.a2[m.ai2]
    m.a2[m.ai2] = <uint16_t>(t + ((((y << 16) - y) - t) >> P_APMR))
    m.c0 = (m.c0 << 1) | <uint32_t>y
    m.nib = (nib << 1) | y
    m.bitpos += 1
    if m.bitpos == 8:
        m.c0 &= 0xFF
        m.bitpos = 0
        m.nib = 1
        byte_update(m, m.c0)
        m.c0 = 1
    elif m.bitpos == 4:
        m.nib = 1
        set_buckets(m)


cdef void _fill_rows(uint16_t *a, size_t rows) noexcept nogil:
    """Replicate the rows already initialised at the start of ``a`` (doubling copies)."""
    cdef size_t have = 1, k
    while have < rows:
        k = rows - have
        if k > have:
            k = have
        memcpy(a + have * 33, a, k * 33 * sizeof(uint16_t))
        have += k


cdef void cm_free(CM *m) noexcept nogil:
    cdef int i
    if m == NULL:
        return
    for i in range(MAXC):
        l7_big_free(m.tabraw[i], m.tablen[i])
    l7_big_free(m.mtabraw, m.mtablen)
    free(m.o1)
    free(m.w1)
    free(m.w2)
    free(m.w3)
    free(m.a1)
    free(m.a2)
    free(m.buf)
    free(m)


cdef int _table_bits(size_t total) noexcept nogil:
    """Hashed table size for ``total`` bytes: 2^tb buckets of 16 counters, 2^10..2^TBMAX."""
    cdef int tb = 10
    cdef size_t need = (total << TBSHIFT) >> 2
    while tb < TBMAX and (<size_t>1 << tb) < need:
        tb += 1
    return tb


cdef uint32_t _match_bits(size_t total) noexcept nogil:
    cdef uint32_t mbits = 12
    while mbits < 22 and (<size_t>1 << mbits) < total:
        mbits += 1
    return mbits


cdef CM *cm_new(int level, size_t total) noexcept nogil:
    """Allocate a model for ``total`` bytes (prime + data); NULL on allocation failure."""
    cdef CM *m = <CM *>calloc(1, sizeof(CM))
    cdef int i, j, tb
    if m == NULL:
        return NULL
    m.level = level
    m.nctx = 7 if level >= 2 else 4
    m.nin = m.nctx + 4
    m.nw = (m.nin + 3) & ~3
    tb = _table_bits(total)
    m.nbmask = (1u << tb) - 1
    for i in range(1, m.nctx):
        # buckets are 64 bytes: cache-line aligned
        m.tabraw[i] = l7_big_alloc(((<size_t>1) << (tb + 4)) * sizeof(uint32_t), &m.tablen[i])
        if m.tabraw[i] == NULL:
            cm_free(m)
            return NULL
        m.tab[i] = <uint32_t *>l7_big_aligned(m.tabraw[i], m.tablen[i])
        m.limit[i] = P_LIM_HI
    m.limit[0] = P_LIM_LO
    m.limit[1] = P_LIM_LO
    m.o1 = <uint32_t *>malloc(256 * 17 * 16 * sizeof(uint32_t))
    m.mbits = _match_bits(total)
    m.mtabraw = l7_big_alloc(((<size_t>1) << m.mbits) * sizeof(uint32_t), &m.mtablen)
    m.mtab = <uint32_t *>l7_big_aligned(m.mtabraw, m.mtablen) if m.mtabraw != NULL else NULL
    m.w1 = <int32_t *>malloc(256 * m.nw * sizeof(int32_t))
    m.w2 = <int32_t *>malloc(65 * 8 * m.nw * sizeof(int32_t))
    m.w3 = <int32_t *>malloc((MAXC + 1) * 8 * m.nw * sizeof(int32_t))
    m.a1 = <uint16_t *>malloc(256 * 33 * sizeof(uint16_t))
    m.a2 = <uint16_t *>malloc(65536 * 33 * sizeof(uint16_t))
    m.buf = <uint8_t *>malloc(total + 1)
    if (m.o1 == NULL or m.mtab == NULL or m.w1 == NULL or m.w2 == NULL or m.w3 == NULL
            or m.a1 == NULL or m.a2 == NULL or m.buf == NULL):
        cm_free(m)
        return NULL
    for i in range(256 * 17 * 16):
        m.o1[i] = 0x80000000u
    for i in range(256 * m.nw):
        m.w1[i] = P_WINIT
    for i in range(65 * 8 * m.nw):
        m.w2[i] = P_WINIT
    for i in range((MAXC + 1) * 8 * m.nw):
        m.w3[i] = P_WINIT
    for i in range(256):
        m.wf[4 * i] = 22000
        m.wf[4 * i + 1] = 22000
        m.wf[4 * i + 2] = 22000
        m.wf[4 * i + 3] = 0
    for j in range(33):
        m.a1[j] = <uint16_t>(squash((j - 16) * 128) * 16)
    for i in range(256):
        m.t0[i] = 0x80000000u
    _fill_rows(m.a1, 256)
    memcpy(m.a2, m.a1, 256 * 33 * sizeof(uint16_t))
    _fill_rows(m.a2, 65536)
    for i in range(64):
        m.msm[i] = 0x80000000u
    m.c0 = 1
    m.nib = 1
    m.bitpos = 0
    m.pos = 0
    byte_update_hashes_only(m)
    set_buckets(m)
    return m


cdef void byte_update_hashes_only(CM *m) noexcept nogil:
    m.h[1] = hash2(2, 0)
    m.h[2] = hash2(3, 0)
    m.h[3] = hash2(4, 0)
    if m.level >= 2:
        m.h[4] = hash2(hash2(6, 0), 0)
        m.h[5] = hash2(8, 0)
        m.h[6] = hash2(hash2(9, 0), 0)


cdef void cm_prime(CM *m, const uint8_t *p, size_t n) noexcept nogil:
    cdef size_t i
    cdef int j, c, y
    for i in range(n):
        c = p[i]
        for j in range(7, -1, -1):
            y = (c >> j) & 1
            cm_predict(m)
            cm_update(m, y)




# ---- primed snapshots: a dictionary primes a model once, records reuse it ----------------------

DEF SNAP_MAX = 4096      # records up to this size code on a primed snapshot
DEF SNAP_KEEP = 4        # free snapshots kept per (level, dictionary, table size)
DEF SNAP_KEYS = 4        # (level, dictionary, table size) combinations kept


cdef class _Primed:
    """A model primed with a dictionary, and what it takes to return to that state after
    coding one record: a copy of the struct and of the small tables, and an undo log of the
    big tables' words. The result is the same model a fresh cm_new + cm_prime would give."""
    cdef CM *m
    cdef CM saved
    cdef int32_t *w1
    cdef int32_t *w2
    cdef int32_t *w3
    cdef uint16_t *a1
    cdef Undo u
    cdef size_t bufcap
    cdef bytes prime
    cdef object key

    def __dealloc__(self):
        cm_free(self.m)
        free(self.w1)
        free(self.w2)
        free(self.w3)
        free(self.a1)
        free(self.u.addr)
        free(self.u.old)


cdef size_t _w1n(CM *m) noexcept nogil:
    return 256 * m.nw * sizeof(int32_t)


cdef size_t _w2n(CM *m) noexcept nogil:
    return 65 * 8 * m.nw * sizeof(int32_t)


cdef size_t _w3n(CM *m) noexcept nogil:
    return (MAXC + 1) * 8 * m.nw * sizeof(int32_t)


cdef _Primed _primed_new(int lv, bytes prime, size_t total, object key):
    cdef _Primed s = _Primed()
    cdef const uint8_t *pr = prime
    _primings[0] += 1
    cdef size_t np_ = len(prime)
    s.m = cm_new(lv, total)
    if s.m == NULL:
        raise MemoryError("cm: cannot allocate model")
    with nogil:
        cm_prime(s.m, pr, np_)
    s.w1 = <int32_t *>malloc(_w1n(s.m))
    s.w2 = <int32_t *>malloc(_w2n(s.m))
    s.w3 = <int32_t *>malloc(_w3n(s.m))
    s.a1 = <uint16_t *>malloc(256 * 33 * sizeof(uint16_t))
    if s.w1 == NULL or s.w2 == NULL or s.w3 == NULL or s.a1 == NULL:
        raise MemoryError("cm: cannot allocate model snapshot")
    memcpy(s.w1, s.m.w1, _w1n(s.m))
    memcpy(s.w2, s.m.w2, _w2n(s.m))
    memcpy(s.w3, s.m.w3, _w3n(s.m))
    memcpy(s.a1, s.m.a1, 256 * 33 * sizeof(uint16_t))
    s.saved = s.m[0]
    s.bufcap = total + 1
    s.prime = prime
    s.key = key
    return s


cdef int _primed_restore(_Primed s) noexcept nogil:
    """Back to the primed state; -1 when the undo log overflowed (the snapshot is dropped)."""
    cdef CM *m = s.m
    cdef size_t i = s.u.n
    cdef uint8_t *buf = m.buf
    if s.u.overflow:
        return -1
    while i > 0:
        i -= 1
        s.u.addr[i][0] = s.u.old[i]
    s.u.n = 0
    memcpy(m.w1, s.w1, _w1n(m))
    memcpy(m.w2, s.w2, _w2n(m))
    memcpy(m.w3, s.w3, _w3n(m))
    memcpy(m.a1, s.a1, 256 * 33 * sizeof(uint16_t))
    m[0] = s.saved
    m.buf = buf
    return 0


_snapshots = {}      # key -> list of free _Primed, in least-recently-used order of keys
_primings = [0]


def primings():
    """How many times a dictionary has primed a snapshot model (diagnostics, tests)."""
    return _primings[0]


cdef _Primed _primed_take(int lv, bytes prime, size_t total):
    """A free snapshot for this level, dictionary and model size (primed now if none)."""
    cdef _Primed s
    cdef uint8_t *nb
    key = (lv, len(prime), hash(prime), _table_bits(total), _match_bits(total))
    free_list = _snapshots.pop(key, None)
    if free_list is None:
        free_list = []
    _snapshots[key] = free_list                      # most recently used last
    while len(_snapshots) > SNAP_KEYS:
        del _snapshots[next(iter(_snapshots))]
    s = None
    for i in range(len(free_list)):
        if (<_Primed>free_list[i]).prime == prime:
            s = free_list.pop(i)
            break
    if s is None:
        s = _primed_new(lv, prime, total, key)
    if s.bufcap < total + 1:
        nb = <uint8_t *>realloc(s.m.buf, total + 1)
        if nb == NULL:
            raise MemoryError("cm: cannot allocate model history")
        s.m.buf = nb
        s.saved.buf = nb
        s.bufcap = total + 1
    s.m.undo = &s.u
    return s


cdef void _primed_give(_Primed s):
    cdef int ok
    with nogil:
        ok = _primed_restore(s)
    free_list = _snapshots.get(s.key)
    if ok == 0 and free_list is not None and len(free_list) < SNAP_KEEP:
        free_list.append(s)


cdef _Primed _snapshot_for(int lv, prime, Py_ssize_t np_, Py_ssize_t n):
    """The primed snapshot a record of n bytes codes on, or None (no dictionary, or too long)."""
    return _primed_take(lv, bytes(prime), <size_t>(n + np_)) if np_ > 0 and n <= SNAP_MAX else None


cdef void _model_release(_Primed snap, CM *m):
    if snap is not None:
        _primed_give(snap)
    else:
        cm_free(m)


def _snapshot_state(level, prime, Py_ssize_t n):
    """Diagnostics for tests: a digest of the whole primed model for records of n bytes (the
    snapshot in the pool if there is one, else a freshly primed model)."""
    cdef int lv = _level(level)
    cdef _Primed s = _primed_take(lv, bytes(prime), <size_t>(n + len(prime)))
    cdef CM *m = s.m
    cdef size_t tsize = ((<size_t>1) << (_table_bits(n + len(prime)) + 4)) * sizeof(uint32_t)
    cdef CM head = m[0]
    cdef int i
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.o1, 256 * 17 * 16 * sizeof(uint32_t)))
    for i in range(1, m.nctx):
        h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.tab[i], tsize), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.mtab, ((<size_t>1) << m.mbits) * sizeof(uint32_t)), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.w1, _w1n(m)), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.w2, _w2n(m)), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.w3, _w3n(m)), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.a1, 256 * 33 * 2), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.a2, 65536 * 33 * 2), h)
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>m.buf, m.pos), h)
    head.undo = NULL
    head.buf = NULL
    for i in range(MAXC):
        head.cur[i] = <uint32_t *>(<size_t>(m.cur[i] - m.tab[i]) if i > 0 else <size_t>(m.cur[0] - m.o1))
    head.o1 = NULL
    head.mtab = NULL
    head.mtabraw = NULL
    head.w1 = head.w2 = head.w3 = NULL
    head.a1 = head.a2 = NULL
    for i in range(MAXC):
        head.tab[i] = NULL
        head.tabraw[i] = NULL
    h = zlib.crc32(PyBytes_FromStringAndSize(<char *>&head, sizeof(CM)), h)
    _primed_give(s)
    return h


cdef inline int _level(level) except -1:
    cdef int lv = level
    if lv not in (1, 2):
        raise ValueError("cm: level must be 1 or 2")
    return lv


def cm_encode(data, level=2, prime=b""):
    """Context-mixing compression.  Returns bytes, or None if the result is not smaller."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef const uint8_t[::1] pr = memoryview(prime).cast("B") if not isinstance(prime, bytes) else prime
    cdef int lv = _level(level)
    cdef Py_ssize_t n = src.shape[0], np_ = pr.shape[0]
    if n == 0:
        return None
    cdef Py_ssize_t cap = n - 4  # the payload must be smaller than this to pay off
    if cap <= 0:
        return None
    cdef uint8_t *out = <uint8_t *>malloc(cap + 8)
    if out == NULL:
        raise MemoryError("cm: cannot allocate output")
    cdef _Primed snap = _snapshot_for(lv, prime, np_, n)
    cdef int fresh = snap is None
    cdef CM *m = cm_new(lv, <size_t>(n + np_)) if fresh else snap.m
    if m == NULL:
        free(out)
        raise MemoryError("cm: cannot allocate model")
    cdef Py_ssize_t o = 0, i
    cdef uint32_t x1 = 0, x2 = 0xFFFFFFFFu, xmid
    cdef int j, c, y, p
    cdef int overflow = 0
    with nogil:
        if np_ > 0 and fresh:
            cm_prime(m, &pr[0], <size_t>np_)
        for i in range(n):
            c = src[i]
            for j in range(7, -1, -1):
                y = (c >> j) & 1
                p = cm_predict(m)
                xmid = x1 + ((x2 - x1) >> 12) * <uint32_t>p + ((((x2 - x1) & 0xFFF) * <uint32_t>p) >> 12)
                if y:
                    x2 = xmid
                else:
                    x1 = xmid + 1
                cm_update(m, y)
                while ((x1 ^ x2) & 0xFF000000u) == 0:
                    out[o] = <uint8_t>(x2 >> 24)
                    o += 1
                    x1 <<= 8
                    x2 = (x2 << 8) | 255
                    if o >= cap:
                        overflow = 1
                        break
                if overflow:
                    break
            if overflow:
                break
        if not overflow:
            # one byte strictly above x1's top byte (<= x2) identifies the interval when
            # the decoder pads with zero bytes
            out[o] = <uint8_t>((x1 >> 24) + 1)
            o += 1
            if o >= cap:
                overflow = 1
    _model_release(snap, m)
    if overflow:
        free(out)
        return None
    crc = zlib.crc32(src)
    res = crc.to_bytes(4, "little") + PyBytes_FromStringAndSize(<char *>out, o)
    free(out)
    return res


def cm_decode(data, Py_ssize_t out_len, level=2, prime=b""):
    """Inverse of :func:`cm_encode` (same ``level`` and ``prime``)."""
    cdef const uint8_t[::1] src = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    cdef const uint8_t[::1] pr = memoryview(prime).cast("B") if not isinstance(prime, bytes) else prime
    cdef int lv = _level(level)
    cdef Py_ssize_t n = src.shape[0], np_ = pr.shape[0]
    if out_len < 0:
        raise corrupt("L7 CM", "negative output size")
    if out_len == 0:
        if n != 0:
            raise corrupt("L7 CM", "payload for empty output")
        return b""
    if n < 5:
        raise corrupt("L7 CM", "truncated input")
    if n - 4 >= out_len + 4:
        raise corrupt("L7 CM", "payload larger than the encoder ever emits")
    # every coded bit costs at least -log2(4095/4096) bits: bound the output by the input
    if out_len > (n + 8) * 4096:
        raise corrupt("L7 CM", "output size impossible for this payload size")
    cdef uint32_t crc = src[0] | (src[1] << 8) | (src[2] << 16) | (<uint32_t>src[3] << 24)
    cdef const uint8_t *inp = &src[4]
    cdef Py_ssize_t inlen = n - 4, ip = 0
    cdef _Primed snap = _snapshot_for(lv, prime, np_, out_len)
    cdef int fresh = snap is None
    cdef CM *m = cm_new(lv, <size_t>(out_len + np_)) if fresh else snap.m
    if m == NULL:
        raise MemoryError("cm: cannot allocate model")
    out = PyBytes_FromStringAndSize(NULL, out_len)
    cdef uint8_t *o = <uint8_t *>PyBytes_AS_STRING(out)
    cdef uint32_t x1 = 0, x2 = 0xFFFFFFFFu, xmid, x = 0
    cdef Py_ssize_t i
    cdef int j, c, y, p
    with nogil:
        if np_ > 0 and fresh:
            cm_prime(m, &pr[0], <size_t>np_)
        for j in range(4):
            x = (x << 8) | (inp[ip] if ip < inlen else 0)
            ip += 1
        for i in range(out_len):
            c = 0
            for j in range(8):
                p = cm_predict(m)
                xmid = x1 + ((x2 - x1) >> 12) * <uint32_t>p + ((((x2 - x1) & 0xFFF) * <uint32_t>p) >> 12)
                if x <= xmid:
                    y = 1
                    x2 = xmid
                else:
                    y = 0
                    x1 = xmid + 1
                cm_update(m, y)
                c = (c << 1) | y
                while ((x1 ^ x2) & 0xFF000000u) == 0:
                    x1 <<= 8
                    x2 = (x2 << 8) | 255
                    x = (x << 8) | (inp[ip] if ip < inlen else 0)
                    ip += 1
            o[i] = <uint8_t>c
            if ip > inlen + 8:
                break
    _model_release(snap, m)
    if ip > inlen + 3:
        raise corrupt("L7 CM", "payload truncated")
    if ip < inlen + 3:
        raise corrupt("L7 CM", "trailing bytes after payload")
    if (zlib.crc32(out) & 0xFFFFFFFF) != crc:
        raise corrupt("L7 CM", "checksum mismatch (corrupt payload or wrong prime/level)")
    return out
