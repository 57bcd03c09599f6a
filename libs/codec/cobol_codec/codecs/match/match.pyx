# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""L6 pattern detection: LZ77 match finding over a dictionary-primed window (dictionaries are
trained by cobol_codec.dictbuilder).

    lz_encode(data, dictionary=b"", level=1) -> bytes or None
    lz_decode(data, out_len, dictionary=b"") -> bytes
    find_matches(data, dictionary=b"", level=2) -> list[(position, offset, length)]
    split_streams(payload) -> [literals, litrun codes, offset codes, length codes, extra]
    join_streams(streams) -> payload

Entropy-code the five sub-streams separately where possible (split_streams): on the
corpora an order-0 Huffman per sub-stream beats one Huffman table over the whole payload by
20-40%.

The window is ``dictionary + data``: a match may start in the dictionary (its offset reaches
back past the start of ``data``) and run on into ``data``.

Levels: 1 = greedy, one probe each in an 8-byte-hash and a 4-byte-hash table plus a
repeat-offset check, skipping faster through incompressible stretches; 2 = hash chains
(depth 16 in the data, 32 in the dictionary) with one-step lazy evaluation and repeat-offset
candidates; 3 = deep chains (256), two-step lazy evaluation, longer "good enough" length;
4 = long matches only (>= 32 bytes, depth 8, greedy): deduplication ahead of a
context-mixing coder, which models short repeats better itself.  The payload format does
not depend on the level.

Payload format (all varints are unsigned LEB128)::

    u8      format tag (1)
    varint  nseq      number of sequences (literal run + match)
    varint  nlit      number of literal bytes
    varint  next      number of bytes in the extra stream
    lit[nlit]         literal bytes, in order
    llc[nseq]         literal-run codes: 0..254 = run length, 255 = 255 + varint in extra
    ofc[nseq]         offset codes: 0,1,2 = repeat offset #0/#1/#2; 3..250 = new offset,
                      c = code-3, e = c // 62 extra bytes, offset = (c % 62) << 8e | extra (LE)
    mlc[nseq]         match-length codes: 0..254 = length-4, 255 = 259 + varint in extra
    ext[next]         per sequence, in order: literal-run varint, offset bytes, length varint

After the last sequence the remaining literals end the output.  Repeat offsets start as
(1, 4, 8); a repeat code moves the used offset to the front, a new offset pushes the others
back.  Separating the streams keeps each one homogeneous for the byte-oriented entropy coder
that follows (literals stay text-like, the code streams are small-alphabet, and the nearly
uniform low offset bytes are kept away from both).
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

from cobol_codec.codecs.common cimport corrupt, get_varint, put_varint, varint_bytes

cdef extern from *:
    """
    #include <string.h>
    static inline unsigned int l6_rd32(const unsigned char* p) {
        unsigned int v; memcpy(&v, p, 4); return v;
    }
    static inline void l6_copy8(unsigned char* d, const unsigned char* s) {
        unsigned long long v; memcpy(&v, s, 8); memcpy(d, &v, 8);
    }
    static inline void l6_copy16(unsigned char* d, const unsigned char* s) {
        unsigned long long v, w; memcpy(&v, s, 8); memcpy(&w, s + 8, 8);
        memcpy(d, &v, 8); memcpy(d + 8, &w, 8);
    }
    /* number of equal leading bytes of a and b, at most limit; a may overlap b from below */
    static inline Py_ssize_t l6_common(const unsigned char* a, const unsigned char* b, Py_ssize_t limit) {
        Py_ssize_t k = 0;
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        while (k + 8 <= limit) {
            unsigned long long x, y;
            memcpy(&x, a + k, 8); memcpy(&y, b + k, 8);
            x ^= y;
            if (x) return k + (__builtin_ctzll(x) >> 3);
            k += 8;
        }
    #endif
        while (k < limit && a[k] == b[k]) k++;
        return k;
    }
    static inline unsigned long long l6_rd64(const unsigned char* p) {
        unsigned long long v; memcpy(&v, p, 8); return v;
    }
    static inline int l6_bitlen(unsigned long long v) {
        int n = 0; while (v) { v >>= 1; n++; } return n;
    }
    """
    uint32_t l6_rd32(const uint8_t* p) nogil
    void l6_copy8(uint8_t* d, const uint8_t* s) nogil
    void l6_copy16(uint8_t* d, const uint8_t* s) nogil
    Py_ssize_t l6_common(const uint8_t* a, const uint8_t* b, Py_ssize_t limit) nogil
    int l6_bitlen(uint64_t v) nogil
    uint64_t l6_rd64(const uint8_t* p) nogil

DEF FORMAT = 1
DEF MINMATCH = 4
DEF OFF_BUCKET = 62           # high-part values per extra-byte count
DEF OFF_CODES = 3 + 4 * OFF_BUCKET   # 251: first invalid offset code
DEF SLACK = 32                # decoder scratch past out_len (wild copies)
DEF PRIME = 2654435761

MAX_WINDOW = 1 << 29          # dictionary + data must stay below this (offset code range)
MAX_OUT = 1 << 34             # sanity bound on a declared output length

# decoder error codes -> messages
_ERRORS = {
    1: "payload is truncated (header)",
    2: "payload has an unknown format tag",
    3: "header is inconsistent with the declared output length",
    4: "stream lengths do not add up to the payload size",
    5: "literal run overruns the literal stream",
    6: "sequence writes past the declared output length",
    7: "offset code is out of range",
    8: "match offset reaches before the start of the window",
    9: "extra stream is truncated",
    10: "varint is overlong or not canonical",
    11: "literals left over do not fill the output exactly",
    12: "extra stream has trailing bytes",
    13: "offset is zero",
}


cdef inline uint32_t _hash4(uint32_t v, int hlog) noexcept nogil:
    return (v * <uint32_t>PRIME) >> (32 - hlog)


cdef inline uint32_t _hash8(uint64_t v, int hlog) noexcept nogil:
    return <uint32_t>((v * <uint64_t>0xCF1BBCDCB7A56463) >> (64 - hlog))


cdef inline int _clamp(int v, int lo, int hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


# ---------------------------------------------------------------------------------------------
# Dictionary index (cached): hash heads + chains over the dictionary content
# ---------------------------------------------------------------------------------------------

cdef class _DictIndex:
    cdef bytes content
    cdef const uint8_t* data
    cdef Py_ssize_t dlen
    cdef uint32_t* head
    cdef uint32_t* chain
    cdef int hlog

    def __cinit__(self, bytes content):
        cdef Py_ssize_t p, n = len(content)
        cdef uint32_t h
        self.content = content
        self.data = <const uint8_t*>PyBytes_AS_STRING(content)
        self.dlen = n
        self.head = NULL
        self.chain = NULL
        self.hlog = _clamp(l6_bitlen(<uint64_t>n) + 1, 8, 22)
        self.head = <uint32_t*>calloc(<size_t>1 << self.hlog, sizeof(uint32_t))
        self.chain = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
        if self.head == NULL or self.chain == NULL:
            raise MemoryError()
        with nogil:
            for p in range(n - MINMATCH + 1):
                h = _hash4(l6_rd32(self.data + p), self.hlog)
                self.chain[p] = self.head[h]
                self.head[h] = <uint32_t>(p + 1)

    def __dealloc__(self):
        free(self.head)
        free(self.chain)


_dict_cache = {}
_CACHE_BYTES = 32 << 20
_EMPTY_INDEX = None


cdef _DictIndex _get_index(bytes dictionary):
    global _EMPTY_INDEX
    if len(dictionary) == 0:
        if _EMPTY_INDEX is None:
            _EMPTY_INDEX = _DictIndex(b"")
        return _EMPTY_INDEX
    idx = _dict_cache.get(dictionary)
    if idx is None:
        idx = _DictIndex(dictionary)
        # keep a few recent indexes (an index costs about 5x its dictionary in memory)
        while _dict_cache and (len(_dict_cache) >= 8 or
                               sum(len(k) for k in _dict_cache) + len(dictionary) > _CACHE_BYTES):
            _dict_cache.pop(next(iter(_dict_cache)))
        _dict_cache[dictionary] = idx
    return idx


# ---------------------------------------------------------------------------------------------
# Sequence writer
# ---------------------------------------------------------------------------------------------

cdef struct Seqs:
    uint8_t* lit
    Py_ssize_t nlit
    uint8_t* llc
    uint8_t* ofc
    uint8_t* mlc
    Py_ssize_t nseq
    uint8_t* ext
    Py_ssize_t next
    uint32_t rep0
    uint32_t rep1
    uint32_t rep2


cdef inline void _put_varint(Seqs* s, uint64_t v) noexcept nogil:
    s.next = put_varint(s.ext, s.next, v)


cdef inline void _emit(Seqs* s, const uint8_t* src, Py_ssize_t anchor, Py_ssize_t ip,
                       uint32_t off, Py_ssize_t ml) noexcept nogil:
    """Literals src[anchor:ip], then a match of ml bytes at distance off."""
    cdef Py_ssize_t ll = ip - anchor
    cdef uint32_t c, h
    cdef int e, j
    memcpy(s.lit + s.nlit, src + anchor, ll)
    s.nlit += ll
    if ll < 255:
        s.llc[s.nseq] = <uint8_t>ll
    else:
        s.llc[s.nseq] = 255
        _put_varint(s, ll - 255)
    if off == s.rep0:
        s.ofc[s.nseq] = 0
    elif off == s.rep1:
        s.ofc[s.nseq] = 1
        s.rep1 = s.rep0
        s.rep0 = off
    elif off == s.rep2:
        s.ofc[s.nseq] = 2
        s.rep2 = s.rep1
        s.rep1 = s.rep0
        s.rep0 = off
    else:
        e = 0
        while (off >> (8 * e)) >= OFF_BUCKET:
            e += 1
        h = off >> (8 * e)
        s.ofc[s.nseq] = <uint8_t>(3 + OFF_BUCKET * e + h)
        for j in range(e):
            s.ext[s.next] = <uint8_t>(off >> (8 * j))
            s.next += 1
        s.rep2 = s.rep1
        s.rep1 = s.rep0
        s.rep0 = off
    ml -= MINMATCH
    if ml < 255:
        s.mlc[s.nseq] = <uint8_t>ml
    else:
        s.mlc[s.nseq] = 255
        _put_varint(s, ml - 255)
    s.nseq += 1


# ---------------------------------------------------------------------------------------------
# Match helpers over the virtual window dict ++ src
# ---------------------------------------------------------------------------------------------

cdef inline Py_ssize_t _match_len(const uint8_t* dct, Py_ssize_t dlen, const uint8_t* src,
                                  Py_ssize_t n, Py_ssize_t ip, Py_ssize_t off) noexcept nogil:
    """Length of the match at src[ip:] against the window position off bytes back (1 <= off <= ip+dlen)."""
    cdef Py_ssize_t c, avail, lim, k
    lim = n - ip
    if off <= ip:
        return l6_common(src + ip - off, src + ip, lim)
    c = ip + dlen - off
    avail = dlen - c
    if avail >= lim:
        return l6_common(dct + c, src + ip, lim)
    k = l6_common(dct + c, src + ip, avail)
    if k < avail:
        return k
    return avail + l6_common(src, src + ip + avail, lim - avail)


cdef inline int _win_byte(const uint8_t* dct, Py_ssize_t dlen, const uint8_t* src, Py_ssize_t p) noexcept nogil:
    """Byte at data-relative position p (negative = in the dictionary), or -1 before the window."""
    if p >= 0:
        return src[p]
    if p + dlen >= 0:
        return dct[dlen + p]
    return -1


cdef inline int _off_cost(uint32_t off, Seqs* s) noexcept nogil:
    if off == s.rep0:
        return 1
    if off == s.rep1 or off == s.rep2:
        return 2
    return l6_bitlen(off) + 4


# ---------------------------------------------------------------------------------------------
# Level 1: single-probe hash table
# ---------------------------------------------------------------------------------------------

cdef void _lz_fast(const uint8_t* src, Py_ssize_t n, _DictIndex di, Seqs* s,
                   uint32_t* tab, uint32_t* tabl, int hlog) noexcept nogil:
    """Greedy parse; candidates: repeat offset 0, an 8-byte-hash table (long matches), a
    4-byte-hash table, then the dictionary's head table."""
    cdef const uint8_t* dct = di.data
    cdef Py_ssize_t dlen = di.dlen
    cdef int dhlog = di.hlog
    cdef Py_ssize_t ip = 0, anchor = 0, limit = n - MINMATCH, limit8 = n - 8, ml, c, p
    cdef uint32_t v, h, cand, off, r
    cdef uint64_t v8
    cdef int found, b
    while ip <= limit:
        v = l6_rd32(src + ip)
        found = 0
        r = s.rep0
        if r <= ip:
            if l6_rd32(src + ip - r) == v:
                off = r
                found = 1
        elif r <= ip + dlen:
            c = ip + dlen - r
            if c + 4 <= dlen and l6_rd32(dct + c) == v:
                off = r
                found = 1
        if ip <= limit8:
            v8 = l6_rd64(src + ip)
            h = _hash8(v8, hlog)
            cand = tabl[h]
            tabl[h] = <uint32_t>(ip + 1)
            if not found and cand != 0 and l6_rd64(src + cand - 1) == v8:
                off = <uint32_t>(ip - (cand - 1))
                found = 1
        h = _hash4(v, hlog)
        cand = tab[h]
        tab[h] = <uint32_t>(ip + 1)
        if not found:
            if cand != 0 and l6_rd32(src + cand - 1) == v:
                off = <uint32_t>(ip - (cand - 1))
                found = 2
            elif dlen:
                cand = di.head[_hash4(v, dhlog)]
                if cand != 0 and l6_rd32(dct + cand - 1) == v:
                    off = <uint32_t>(ip + dlen - (cand - 1))
                    found = 1
        if not found:
            ip += 1 + ((ip - anchor) >> 6)
            continue
        ml = MINMATCH + _match_len(dct, dlen, src, n, ip + MINMATCH, off)
        if found == 2 and ml < 8 and ip + 1 <= limit8:
            # a short match: does a long one start at the next byte?
            v8 = l6_rd64(src + ip + 1)
            h = _hash8(v8, hlog)
            cand = tabl[h]
            tabl[h] = <uint32_t>(ip + 2)
            if cand != 0 and l6_rd64(src + cand - 1) == v8:
                ip += 1
                off = <uint32_t>(ip - (cand - 1))
                ml = 8 + _match_len(dct, dlen, src, n, ip + 8, off)
        while ip > anchor:
            b = _win_byte(dct, dlen, src, ip - 1 - <Py_ssize_t>off)
            if b < 0 or b != src[ip - 1]:
                break
            ip -= 1
            ml += 1
        _emit(s, src, anchor, ip, off, ml)
        p = ip + 1
        ip += ml
        anchor = ip
        # a few insertions inside the match keep the tables fresh
        if p <= limit8:
            tabl[_hash8(l6_rd64(src + p), hlog)] = <uint32_t>(p + 1)
        p = ip - 2
        if p >= 0 and p <= limit8:
            tabl[_hash8(l6_rd64(src + p), hlog)] = <uint32_t>(p + 1)
        if p >= 0 and p <= limit:
            tab[_hash4(l6_rd32(src + p), hlog)] = <uint32_t>(p + 1)
    # trailing literals
    memcpy(s.lit + s.nlit, src + anchor, n - anchor)
    s.nlit += n - anchor


# ---------------------------------------------------------------------------------------------
# Levels 2-3: hash chains with lazy evaluation
# ---------------------------------------------------------------------------------------------

cdef struct Chains:
    uint32_t* head
    uint32_t* chain
    int hlog
    Py_ssize_t next_ins
    int depth
    int ddepth
    Py_ssize_t nice
    Py_ssize_t lazy_cut
    int min_gain
    Py_ssize_t min_len


cdef inline void _insert_upto(const uint8_t* src, Py_ssize_t n, Chains* ch, Py_ssize_t target) noexcept nogil:
    cdef Py_ssize_t p = ch.next_ins
    cdef Py_ssize_t lim = n - MINMATCH
    cdef uint32_t h
    if target - 1 < lim:
        lim = target - 1
    while p <= lim:
        h = _hash4(l6_rd32(src + p), ch.hlog)
        ch.chain[p] = ch.head[h]
        ch.head[h] = <uint32_t>(p + 1)
        p += 1
    if target > ch.next_ins:
        ch.next_ins = target


cdef inline Py_ssize_t _search(const uint8_t* src, Py_ssize_t n, _DictIndex di, Chains* ch,
                               Seqs* s, Py_ssize_t ip, uint32_t* best_off) noexcept nogil:
    """Best match at ip (length >= MINMATCH, else 0), scored by 4*len - offset cost."""
    cdef const uint8_t* dct = di.data
    cdef Py_ssize_t dlen = di.dlen
    cdef Py_ssize_t lim = n - ip, ml, best = 0, p
    cdef int best_gain = ch.min_gain, gain, depth, k
    cdef uint32_t v, cand, off, r
    _insert_upto(src, n, ch, ip)
    v = l6_rd32(src + ip)
    # repeat offsets
    for k in range(3):
        r = s.rep0 if k == 0 else (s.rep1 if k == 1 else s.rep2)
        if r <= ip + dlen:
            ml = _match_len(dct, dlen, src, n, ip, r)
            if ml >= MINMATCH:
                gain = <int>(4 * ml) - _off_cost(r, s)
                if gain > best_gain:
                    best_gain = gain
                    best = ml
                    best_off[0] = r
    if best >= ch.nice or best == lim:
        return best
    # data chain
    cand = ch.head[_hash4(v, ch.hlog)]
    depth = ch.depth
    while cand != 0 and depth > 0:
        depth -= 1
        p = cand - 1
        cand = ch.chain[p]
        if src[p + best] != src[ip + best] or l6_rd32(src + p) != v:
            if best < lim:
                continue
        ml = l6_common(src + p, src + ip, lim)
        if ml >= MINMATCH:
            off = <uint32_t>(ip - p)
            gain = <int>(4 * ml) - _off_cost(off, s)
            if gain > best_gain:
                best_gain = gain
                best = ml
                best_off[0] = off
                if ml >= ch.nice or ml == lim:
                    return best
    # dictionary chain
    if dlen:
        cand = di.head[_hash4(v, di.hlog)]
        depth = ch.ddepth
        while cand != 0 and depth > 0:
            depth -= 1
            p = cand - 1
            cand = di.chain[p]
            if l6_rd32(dct + p) != v:
                continue
            off = <uint32_t>(ip + dlen - p)
            ml = _match_len(dct, dlen, src, n, ip, off)
            gain = <int>(4 * ml) - _off_cost(off, s)
            if gain > best_gain:
                best_gain = gain
                best = ml
                best_off[0] = off
                if ml >= ch.nice or ml == lim:
                    return best
    return best


cdef inline int _gain(Py_ssize_t ml, uint32_t off, Seqs* s) noexcept nogil:
    return <int>(4 * ml) - _off_cost(off, s)


cdef void _lz_lazy(const uint8_t* src, Py_ssize_t n, _DictIndex di, Seqs* s, Chains* ch,
                   int lazy_steps) noexcept nogil:
    cdef const uint8_t* dct = di.data
    cdef Py_ssize_t dlen = di.dlen
    cdef Py_ssize_t ip = 0, anchor = 0, limit = n - MINMATCH, ml, ml2, step
    cdef uint32_t off = 0, off2 = 0
    cdef int b, k, better
    while ip <= limit:
        ml = _search(src, n, di, ch, s, ip, &off)
        if ml < ch.min_len:
            ip += 1 + ((ip - anchor) >> 8)
            continue
        # lazy evaluation: does a match starting a little later pay more?
        while ml < ch.lazy_cut:
            better = 0
            for k in range(1, lazy_steps + 1):
                if ip + k > limit:
                    break
                ml2 = _search(src, n, di, ch, s, ip + k, &off2)
                if ml2 >= MINMATCH and _gain(ml2, off2, s) > _gain(ml, off, s) + 4 * k:
                    ip += k
                    ml = ml2
                    off = off2
                    better = 1
                    break
            if not better:
                break
        while ip > anchor:
            b = _win_byte(dct, dlen, src, ip - 1 - <Py_ssize_t>off)
            if b < 0 or b != src[ip - 1]:
                break
            ip -= 1
            ml += 1
        _emit(s, src, anchor, ip, off, ml)
        ip += ml
        anchor = ip
    memcpy(s.lit + s.nlit, src + anchor, n - anchor)
    s.nlit += n - anchor


# ---------------------------------------------------------------------------------------------
# Encoder entry points
# ---------------------------------------------------------------------------------------------

cdef bytes _as_bytes(obj, str what):
    if isinstance(obj, bytes):
        return <bytes>obj
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    raise TypeError(f"{what} must be bytes-like, not {type(obj).__name__}")


def _encode(data, dictionary=b"", int level=1, int depth=0, int ddepth=0, Py_ssize_t nice=0, int lazy=-1,
            Py_ssize_t lazy_cut=0, int hcap=0, int min_gain=-1000, Py_ssize_t min_len=0):
    """The L6 payload for data (always produced, even when it does not pay)."""
    cdef bytes raw = _as_bytes(data, "data")
    cdef bytes dbytes = _as_bytes(dictionary, "dictionary")
    cdef Py_ssize_t n = len(raw)
    cdef Py_ssize_t maxseq, extcap
    cdef const uint8_t* src = <const uint8_t*>PyBytes_AS_STRING(raw)
    cdef _DictIndex di
    cdef Seqs s
    cdef Chains ch
    cdef uint8_t* block = NULL
    cdef uint32_t* tab = NULL
    cdef int hlog
    if level not in (1, 2, 3, 4):
        raise ValueError(f"L6 level must be 1, 2, 3 or 4, not {level}")
    if n + len(dbytes) >= MAX_WINDOW:
        raise ValueError("L6 window (dictionary + data) is too large")
    di = _get_index(dbytes)
    maxseq = n // MINMATCH + 1
    # offset extras take <= 3 bytes a sequence; length varints (<= 5 bytes) only follow runs
    # or matches of >= 255 bytes, so there are fewer than 2 * (n // 255 + 1) of them
    extcap = 3 * maxseq + 10 * (n // 255 + 1) + 16
    block = <uint8_t*>malloc(n + 3 * maxseq + extcap + 16)
    if block == NULL:
        raise MemoryError()
    s.lit = block
    s.llc = block + n
    s.ofc = s.llc + maxseq
    s.mlc = s.ofc + maxseq
    s.ext = s.mlc + maxseq
    s.nlit = 0
    s.nseq = 0
    s.next = 0
    s.rep0 = 1
    s.rep1 = 4
    s.rep2 = 8
    try:
        if level == 1:
            hlog = _clamp(l6_bitlen(<uint64_t>n), 8, hcap if hcap > 0 else 16)
            tab = <uint32_t*>calloc(<size_t>2 << hlog, sizeof(uint32_t))
            if tab == NULL:
                raise MemoryError()
            with nogil:
                _lz_fast(src, n, di, &s, tab, tab + (1 << hlog), hlog)
        else:
            if hcap <= 0:
                hcap = 20 if level == 3 else 17
            ch.hlog = _clamp(l6_bitlen(<uint64_t>n) + 1, 8, hcap)
            ch.head = <uint32_t*>calloc(<size_t>1 << ch.hlog, sizeof(uint32_t))
            ch.chain = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
            tab = ch.head
            if ch.head == NULL or ch.chain == NULL:
                free(ch.chain)
                raise MemoryError()
            ch.next_ins = 0
            ch.min_len = MINMATCH
            if level == 2:
                ch.depth = 16
                ch.ddepth = 32
                ch.nice = 96
                ch.lazy_cut = 96
            elif level == 4:
                # long-range deduplication only, ahead of a context-mixing coder
                ch.depth = 8
                ch.ddepth = 8
                ch.nice = 256
                ch.lazy_cut = 0
                ch.min_len = 32
            else:
                ch.depth = 256
                ch.ddepth = 256
                ch.nice = 1024
                ch.lazy_cut = 1024
            if depth > 0:
                ch.depth = depth
            if ddepth > 0:
                ch.ddepth = ddepth
            if nice > 0:
                ch.nice = nice
            if lazy_cut > 0:
                ch.lazy_cut = lazy_cut
            ch.min_gain = 2 if min_gain == -1000 else min_gain
            if min_len > 0:
                ch.min_len = max(min_len, MINMATCH)
            if lazy < 0:
                lazy = 2 if level == 3 else 1
            with nogil:
                _lz_lazy(src, n, di, &s, &ch, lazy)
            free(ch.chain)
        head = bytes([FORMAT]) + varint_bytes(s.nseq) + varint_bytes(s.nlit) + varint_bytes(s.next)
        return b"".join((
            head,
            PyBytes_FromStringAndSize(<char*>s.lit, s.nlit),
            PyBytes_FromStringAndSize(<char*>s.llc, s.nseq),
            PyBytes_FromStringAndSize(<char*>s.ofc, s.nseq),
            PyBytes_FromStringAndSize(<char*>s.mlc, s.nseq),
            PyBytes_FromStringAndSize(<char*>s.ext, s.next),
        ))
    finally:
        free(tab)
        free(block)


def lz_encode(data, dictionary=b"", level=1):
    """LZ77 over the window dictionary ++ data; None when the result is not smaller than data."""
    out = _encode(data, dictionary, level)
    if len(out) >= len(data):
        return None
    return out


# ---------------------------------------------------------------------------------------------
# Decoder
# ---------------------------------------------------------------------------------------------

cdef inline int _get_varint(const uint8_t* p, Py_ssize_t end, Py_ssize_t* q, uint64_t* v, int maxbytes) noexcept nogil:
    """The common varint reader as an L6 error code: 0 ok, 9 truncated, 10 overlong or not
    canonical."""
    cdef Py_ssize_t i = get_varint(p, end, q[0], v, maxbytes), k
    if i >= 0:
        q[0] = i
        return 0
    for k in range(q[0], end if end - q[0] < maxbytes else q[0] + maxbytes):
        if p[k] < 0x80:
            return 10
    return 9 if end - q[0] < maxbytes else 10


cdef int _decode(const uint8_t* inp, Py_ssize_t inlen, const uint8_t* dct, Py_ssize_t dlen,
                 uint8_t* out, Py_ssize_t out_len, int64_t* trace) noexcept nogil:
    cdef Py_ssize_t q = 1, pos = 0, litp = 0, i, ll, ml, k, e, j, c
    cdef uint64_t nseq, nlit, next, v
    cdef const uint8_t* lit
    cdef const uint8_t* llc
    cdef const uint8_t* ofc
    cdef const uint8_t* mlc
    cdef const uint8_t* ext
    cdef const uint8_t* inend = inp + inlen
    cdef Py_ssize_t xq = 0, xend
    cdef uint64_t off, rep0 = 1, rep1 = 4, rep2 = 8
    cdef uint8_t* d
    cdef const uint8_t* sp
    cdef int err, oc
    if inlen < 1:
        return 1
    if inp[0] != FORMAT:
        return 2
    err = _get_varint(inp, inlen, &q, &nseq, 6)
    if err:
        return 1 if err == 9 else err
    err = _get_varint(inp, inlen, &q, &nlit, 6)
    if err:
        return 1 if err == 9 else err
    err = _get_varint(inp, inlen, &q, &next, 6)
    if err:
        return 1 if err == 9 else err
    if nseq > <uint64_t>(out_len // MINMATCH) or nlit > <uint64_t>out_len or next > <uint64_t>inlen:
        return 3
    if <uint64_t>q + nlit + 3 * nseq + next != <uint64_t>inlen:
        return 4
    lit = inp + q
    llc = lit + nlit
    ofc = llc + nseq
    mlc = ofc + nseq
    ext = mlc + nseq
    xend = <Py_ssize_t>next
    for i in range(<Py_ssize_t>nseq):
        # literal run
        ll = llc[i]
        if ll == 255:
            err = _get_varint(ext, xend, &xq, &v, 5)
            if err:
                return err
            if v > <uint64_t>out_len:
                return 6
            ll = 255 + <Py_ssize_t>v
        if ll > <Py_ssize_t>nlit - litp:
            return 5
        if ll > out_len - pos:
            return 6
        if ll <= 16 and lit + litp + 16 <= inend:
            l6_copy16(out + pos, lit + litp)
        else:
            memcpy(out + pos, lit + litp, ll)
        pos += ll
        litp += ll
        # offset
        oc = ofc[i]
        if oc == 0:
            off = rep0
        elif oc == 1:
            off = rep1
            rep1 = rep0
            rep0 = off
        elif oc == 2:
            off = rep2
            rep2 = rep1
            rep1 = rep0
            rep0 = off
        else:
            if oc >= OFF_CODES:
                return 7
            c = oc - 3
            e = c // OFF_BUCKET
            if xq + e > xend:
                return 9
            off = (<uint64_t>(c % OFF_BUCKET)) << (8 * e)
            for j in range(e):
                off |= (<uint64_t>ext[xq + j]) << (8 * j)
            xq += e
            if off == 0:
                return 13
            rep2 = rep1
            rep1 = rep0
            rep0 = off
        if off > <uint64_t>(pos + dlen):
            return 8
        # match length
        ml = mlc[i]
        if ml == 255:
            err = _get_varint(ext, xend, &xq, &v, 5)
            if err:
                return err
            if v > <uint64_t>out_len:
                return 6
            ml = 255 + <Py_ssize_t>v
        ml += MINMATCH
        if ml > out_len - pos:
            return 6
        if trace != NULL:
            trace[3 * i] = pos
            trace[3 * i + 1] = <int64_t>off
            trace[3 * i + 2] = ml
        # copy
        if off > <uint64_t>pos:
            k = <Py_ssize_t>off - pos           # bytes available in the dictionary
            c = dlen - k
            if k >= ml:
                memcpy(out + pos, dct + c, ml)
                pos += ml
                continue
            memcpy(out + pos, dct + c, k)
            pos += k
            ml -= k
        d = out + pos
        sp = d - <Py_ssize_t>off
        pos += ml
        if off >= 8:
            if off >= 16:
                while ml > 0:
                    l6_copy16(d, sp)
                    d += 16
                    sp += 16
                    ml -= 16
            else:
                while ml > 0:
                    l6_copy8(d, sp)
                    d += 8
                    sp += 8
                    ml -= 8
        else:
            # short period: copy 8 bytes one by one, then widen the distance to a multiple >= 8
            k = 8 if ml > 8 else ml
            for j in range(k):
                d[j] = sp[j]
            d += k
            ml -= k
            if ml > 0:
                c = <Py_ssize_t>off * ((8 + <Py_ssize_t>off - 1) // <Py_ssize_t>off)
                sp = d - c
                while ml > 0:
                    l6_copy8(d, sp)
                    d += 8
                    sp += 8
                    ml -= 8
    if <Py_ssize_t>nlit - litp != out_len - pos:
        return 11
    memcpy(out + pos, lit + litp, out_len - pos)
    if xq != xend:
        return 12
    return 0


cdef object _run_decode(data, Py_ssize_t out_len, dictionary, int64_t* trace):
    cdef bytes raw = _as_bytes(data, "data")
    cdef bytes dbytes = _as_bytes(dictionary, "dictionary")
    cdef const uint8_t* inp = <const uint8_t*>PyBytes_AS_STRING(raw)
    cdef const uint8_t* dct = <const uint8_t*>PyBytes_AS_STRING(dbytes)
    cdef Py_ssize_t inlen = len(raw), dlen = len(dbytes)
    cdef uint8_t* buf
    cdef int err
    if out_len < 0 or out_len > MAX_OUT:
        raise ValueError(f"L6 output length {out_len} is out of range")
    buf = <uint8_t*>malloc(out_len + SLACK)
    if buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            err = _decode(inp, inlen, dct, dlen, buf, out_len, trace)
        if err:
            raise corrupt("L6 match", _ERRORS.get(err, "payload is corrupt"))
        return PyBytes_FromStringAndSize(<char*>buf, out_len)
    finally:
        free(buf)


def lz_decode(data, out_len, dictionary=b""):
    """Inverse of lz_encode; out_len is the exact original length. ValueError on corrupt input."""
    return _run_decode(data, int(out_len), dictionary, NULL)


def split_streams(payload):
    """The five sub-streams of an L6 payload (literals, literal-run codes, offset codes,
    match-length codes, extra bytes), for an entropy coder that codes each on its own.
    ValueError when the header does not describe the payload exactly."""
    cdef bytes raw = _as_bytes(payload, "payload")
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(raw)
    cdef Py_ssize_t q = 1, n = len(raw)
    cdef uint64_t nseq = 0, nlit = 0, next = 0
    if n < 1 or p[0] != FORMAT:
        raise corrupt("L6 match", "payload is truncated or has an unknown format tag")
    if (_get_varint(p, n, &q, &nseq, 6) or _get_varint(p, n, &q, &nlit, 6)
            or _get_varint(p, n, &q, &next, 6)):
        raise corrupt("L6 match", "payload header is damaged")
    if nseq > <uint64_t>n or nlit > <uint64_t>n or next > <uint64_t>n or q + nlit + 3 * nseq + next != <uint64_t>n:
        raise corrupt("L6 match", "stream lengths do not add up to the payload size")
    out = []
    for size in (nlit, nseq, nseq, nseq, next):
        out.append(raw[q:q + <Py_ssize_t>size])
        q += <Py_ssize_t>size
    return out


def join_streams(streams):
    """Inverse of split_streams."""
    lit, llc, ofc, mlc, ext = [_as_bytes(x, "stream") for x in streams]
    if not (len(llc) == len(ofc) == len(mlc)):
        raise corrupt("L6 match", "code streams differ in length")
    return b"".join((bytes([FORMAT]), varint_bytes(len(llc)), varint_bytes(len(lit)), varint_bytes(len(ext)),
                     lit, llc, ofc, mlc, ext))


def find_matches(data, dictionary=b"", level=2):
    """The matches the level-`level` parser chooses for data: a list of (position, offset,
    length); offsets larger than position reach into the dictionary."""
    cdef bytes raw = _as_bytes(data, "data")
    enc = _encode(raw, dictionary, level)
    cdef Py_ssize_t n = len(raw), i, cnt
    cdef int64_t* trace = <int64_t*>malloc((3 * (n // MINMATCH + 1)) * sizeof(int64_t))
    if trace == NULL:
        raise MemoryError()
    try:
        _run_decode(enc, n, dictionary, trace)
        cnt = _seq_count(enc)
        return [(trace[3 * i], trace[3 * i + 1], trace[3 * i + 2]) for i in range(cnt)]
    finally:
        free(trace)


cdef Py_ssize_t _seq_count(bytes enc):
    cdef Py_ssize_t q = 1
    cdef uint64_t nseq = 0
    _get_varint(<const uint8_t*>PyBytes_AS_STRING(enc), len(enc), &q, &nseq, 6)
    return <Py_ssize_t>nseq
