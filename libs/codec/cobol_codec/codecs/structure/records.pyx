# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L2 model 6, binary records (fixed or length-prefixed, EBCDIC or ASCII text fields):
record groups laid out column by column, EBCDIC text translated to ASCII. See spec.md."""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free
from libc.math cimport log2

import zlib
import numpy as np

from cobol_codec.codecs.structure.shared import _VERSION, _Reader, _as_bytes, _i64, _ints_from
from cobol_codec.codecs.structure.chars cimport PH_NUM, PH_STR, _copy_term, _isalnum, _isalpha, _isdig, _ishex, _put
from cobol_codec.codecs.structure.legacy_records import _varrec_split

# =========================================================================== records v2

# Byte classes for column classification (EBCDIC record layouts):
#   bit0 zoned digit F0-F9, bit1 EBCDIC text or padding, bit2 valid packed-decimal byte
#   (high nibble a digit, low nibble a digit or a sign C/D/F).
_EBC_TEXT = ([0x00, 0x40, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, 0x50, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E,
              0x5F, 0x60, 0x61, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x79, 0x7A, 0x7B, 0x7C, 0x7D,
              0x7E, 0x7F] + list(range(0x81, 0x8A)) + list(range(0x91, 0x9A)) + list(range(0xA2, 0xAA))
             + list(range(0xC0, 0xCA)) + list(range(0xD0, 0xDA)) + list(range(0xE0, 0xEA))
             + list(range(0xF0, 0xFA)))
_CLS = np.zeros(256, np.uint8)
_CLS[0xF0:0xFA] |= 1
_CLS[_EBC_TEXT] |= 2
for _b in range(256):
    if (_b >> 4) <= 9 and ((_b & 15) <= 9 or (_b & 15) >= 12):
        _CLS[_b] |= 4
_EBC_LETTERS = np.zeros(256, np.uint8)
_EBC_LETTERS[[0x40] + list(range(0x81, 0x8A)) + list(range(0x91, 0x9A)) + list(range(0xA2, 0xAA))
             + list(range(0xC1, 0xCA)) + list(range(0xD1, 0xDA)) + list(range(0xE2, 0xEA))] = 1
_ASC_LETTERS = np.zeros(256, np.uint8)
_ASC_LETTERS[[0x20] + list(range(0x41, 0x5B)) + list(range(0x61, 0x7B))] = 1
# cp037 -> latin-1 is a byte permutation: EBCDIC text becomes ASCII text, which the
# entropy coder's word contexts understand.
_XLAT = np.frombuffer(bytes(range(256)).decode("cp037").encode("latin-1"), np.uint8).copy()
_XLAT_INV = np.zeros(256, np.uint8)
_XLAT_INV[_XLAT] = np.arange(256, dtype=np.uint8)

MODEL_RECORDS = 6
# column modes of a record group
CM_ROW, CM_COL, CM_NIB, CM_ROWSTART = 0, 1, 2, 3
_SPLIT_TEXT_FIELDS = False


# k * log2(k) for the counts _colcost meets (R <= 32768 rows), built once: building it per
# call cost more than the count itself on small frames
_NLOGN_MAX = 1 << 15
_NLOGN = np.zeros(_NLOGN_MAX + 1, np.float64)
_NLOGN[1:] = np.arange(1, _NLOGN_MAX + 1) * np.log2(np.arange(1, _NLOGN_MAX + 1))


def _colcost(const uint8_t[::1] d, Py_ssize_t P, Py_ssize_t R, Py_ssize_t off):
    """Order-0 cost in bits of the R x P matrix starting at d[off], summed over columns."""
    cdef Py_ssize_t j, r, v
    cdef int64_t cnt[256]
    cdef double tot = 0.0
    if R <= 0 or P <= 0 or off + R * P > d.shape[0]:
        return 0.0
    if R <= _NLOGN_MAX:
        tab = _NLOGN
    else:
        tab = np.zeros(R + 1, np.float64)
        tab[1:] = np.arange(1, R + 1) * np.log2(np.arange(1, R + 1))
    cdef double[::1] nl = tab
    with nogil:
        for v in range(256):
            cnt[v] = 0
        for j in range(P):
            for r in range(R):
                cnt[d[off + r * P + j]] += 1
            for r in range(R):
                v = d[off + r * P + j]
                if cnt[v]:
                    tot -= nl[cnt[v]]
                    cnt[v] = 0
            tot += nl[R]
    return tot


def _autocorr_fast(const uint8_t[::1] d, Py_ssize_t maxp, Py_ssize_t m):
    sc = np.zeros(maxp + 1, np.int64)
    cdef int64_t[::1] s = sc
    cdef Py_ssize_t P, i
    cdef int cnt
    with nogil:
        for P in range(1, maxp + 1):
            cnt = 0
            for i in range(m):
                cnt += d[i] == d[i + P]
            s[P] = cnt
    return sc


def _chain2(const uint8_t[::1] d, int o, int big, int adj):
    """Walk length-prefixed records: a 2-byte length at offset o (record length = field + adj).
    Bytes before the length may take at most 4 values per position; the bytes after it up to
    offset 4 must stay constant. Returns (count, end)."""
    cdef Py_ssize_t n = d.shape[0], p = 0, cnt = 0, L, k, q
    cdef Py_ssize_t minl = o + 2 if o + 2 > 4 else 4
    cdef uint8_t seen[4][4]
    cdef int nseen[4]
    cdef bint ok
    for k in range(4):
        nseen[k] = 0
    with nogil:
        while p + minl <= n:
            if big:
                L = (d[p + o] << 8 | d[p + o + 1]) + adj
            else:
                L = (d[p + o + 1] << 8 | d[p + o]) + adj
            if L < minl or p + L > n:
                break
            ok = True
            for k in range(o):
                for q in range(nseen[k]):
                    if seen[k][q] == d[p + k]:
                        break
                else:
                    if nseen[k] >= 4:
                        ok = False
                        break
                    seen[k][nseen[k]] = d[p + k]
                    nseen[k] += 1
            if ok and cnt:
                for k in range(o + 2, 4):
                    if d[p + k] != d[k]:
                        ok = False
                        break
            if not ok:
                break
            p += L
            cnt += 1
    return cnt, p


def _plan(M):
    """Column modes for a k x w record group (k >= 1)."""
    k, w = M.shape
    S = M[:min(k, 512)]
    cb = np.bitwise_and.reduce(_CLS[S], axis=0)
    const = (S == S[0:1]).all(axis=0)
    zoned = (cb & 1) != 0
    text = (cb & 2) != 0
    packed = ((cb & 4) != 0) & ~zoned & ~const
    if k >= 16 and w >= 2:
        cols = np.ascontiguousarray(S.T)
        nc = [j for j in range(w) if not const[j]]
        ndup = len(nc) - len({cols[j].tobytes() for j in nc})
    else:
        ndup = 0
    npk = int(np.count_nonzero(packed & ~text))
    modes = np.zeros(w, np.uint8)
    if k >= 16 and (ndup + npk) * 4 >= w:
        # numeric layout: every column on its own, packed-decimal bytes as two digit columns
        modes[:] = CM_COL
        modes[packed] = CM_NIB
        return modes, 1
    # record layout: text/zoned/constant runs stay row-wise per field; binary columns
    # are transposed, packed-decimal columns split into digit columns
    # (as arrays: records can be thousands of bytes wide)
    cls = np.where(const, 0, np.where(zoned, 1, np.where(text, 2, 3))).astype(np.int64)
    prev = np.empty_like(cls)
    prev[0] = -1
    prev[1:] = cls[:-1]
    start = (prev != cls) & ((prev == 3) | bool(_SPLIT_TEXT_FIELDS))
    start[0] = True
    modes[:] = np.where(cls == 3, np.where(packed, CM_NIB, CM_COL), np.where(start, CM_ROWSTART, CM_ROW))
    return modes, 0


def _runs(modes):
    """(start, end, kind) runs; kind 0 row field, 1 columns, 2 nibble columns."""
    out = []
    w = len(modes)
    j = 0
    while j < w:
        m = modes[j]
        e = j + 1
        if m == CM_ROW or m == CM_ROWSTART:
            while e < w and modes[e] == CM_ROW:
                e += 1
            out.append((j, e, 0))
        elif m == CM_COL or m == CM_NIB:
            while e < w and modes[e] == m:
                e += 1
            out.append((j, e, 1 if m == CM_COL else 2))
        else:
            raise ValueError("records model: bad column mode")
        j = e
    return out


def _lay(M, modes):
    parts = []
    for a, e, kind in _runs(modes.tolist()):
        sub = M[:, a:e]
        if kind == 0:
            parts.append(np.ascontiguousarray(sub).tobytes())
        elif kind == 1:
            parts.append(np.ascontiguousarray(sub.T).tobytes())
        else:
            t = sub.T
            parts.append(np.stack([(t >> 4) | 0xF0, (t & 15) | 0xF0], axis=1).astype(np.uint8).tobytes())
    return b"".join(parts)


def _unlay(b, off, k, modes):
    """Inverse of _lay: returns (k x w matrix, new offset); ValueError if b is too short."""
    w = len(modes)
    M = np.empty((k, w), np.uint8)
    for a, e, kind in _runs(modes.tolist()):
        sz = k * (e - a) * (2 if kind == 2 else 1)
        if off + sz > len(b):
            raise ValueError("records model: body truncated")
        blk = b[off:off + sz]
        off += sz
        if kind == 0:
            M[:, a:e] = blk.reshape(k, e - a)
        elif kind == 1:
            M[:, a:e] = blk.reshape(e - a, k).T
        else:
            t = blk.reshape(e - a, 2, k)
            M[:, a:e] = (((t[:, 0, :] & 15) << 4) | (t[:, 1, :] & 15)).T
    return M, off


def _is_ebcdic(s):
    e = int(np.count_nonzero(_EBC_LETTERS[s]))
    a = int(np.count_nonzero(_ASC_LETTERS[s]))
    return e >= len(s) // 20 and e > 2 * a


def _group_body(M, parts):
    modes, numeric = _plan(M)
    parts.append(modes.tobytes())
    parts.append(_lay(M, modes))
    return M.size if not numeric else 0


def _finish_body(parts, d, nrow_bytes, nbytes):
    body = b"".join(parts)
    xl = 1 if (nrow_bytes * 2 >= nbytes and _is_ebcdic(d[:1 << 16])) else 0
    if xl:
        body = _XLAT[np.frombuffer(body, np.uint8)].tobytes()
    return body, xl


def _period_ratio(raw, hi, Py_ssize_t n, Py_ssize_t P, bint always_bytes=False):
    """Per-byte order-0 column cost of the hi-nibble and byte matrices with period P,
    relative to the cheaper of the periods P-1 and P+1 (same rows, so the same bias).
    The byte ratio is only computed when the nibble ratio is promising."""
    R = min(n // (P + 1), max(24, 32768 // P))
    if R < 8:
        return 9.0, 9.0
    a = _colcost(hi, P, R, 0) / P
    ca = _colcost(hi, P + 1, R, 0) / (P + 1)
    ra = a / max(ca, 1e-9)
    if ra >= 0.85 and not always_bytes:
        return ra, 9.0
    b = _colcost(raw, P, R, 0) / P
    cb = _colcost(raw, P + 1, R, 0) / (P + 1)
    return ra, b / max(cb, 1e-9)


def _fixed_period(data):
    """Record length of fixed-length records, or 0. Cheap: autocorrelation of the bytes and
    of their high nibbles (field classes) on a 4 KiB window, then order-0 column costs of a
    sample against shifted controls."""
    cdef Py_ssize_t n = len(data)
    if n < 1024:
        return 0
    maxp = min(4096, n // 4)
    m = min(n - maxp, 4096)
    if m < 256:
        return 0
    mid = n // 4 if n > 200000 else 0      # skip a file header on large inputs
    raw = data[mid:mid + (1 << 18)]
    n = len(raw)
    d = np.frombuffer(raw, np.uint8)
    hi = (d >> 4).astype(np.uint8).tobytes()
    import math
    cand = []
    scb = None
    # _period_ratio refuses a period with fewer than 8 rows in `raw`, so longer lags need no
    # score: on a 4 KiB frame this halves the autocorrelation, on 32 KiB and more it is moot
    scan = min(maxp, n // 8)
    for src in (raw, hi):
        sc = _autocorr_fast(src, scan, m)
        if scb is None:
            scb = sc.copy()
        sc[:3] = -1
        for p in np.argsort(-sc, kind="stable")[:4].tolist():
            if sc[p] > m // 32 and p not in cand:
                cand.append(int(p))
    extra = []
    for i in range(len(cand)):
        for j in range(i + 1, len(cand)):
            g = math.gcd(cand[i], cand[j])
            if g >= 3 and g not in cand and g not in extra:
                extra.append(g)
    cand += extra[:4]

    def ok(P, rh, rb):
        # field classes line up (nibble columns much cheaper), or bytes repeat far more
        # often one record apart than next door (tables of similar cells)
        return rb < 0.97 and (rh < 0.85 or (scb[P] >= 1.3 * scb[1] and scb[P] >= m // 4))

    best = None
    for P in cand:
        rh, rb = _period_ratio(raw, hi, n, P, scb[P] >= 1.3 * scb[1])
        if ok(P, rh, rb) and (best is None or rh < best[0]):
            best = (rh, P)
    if best is None:
        return 0
    P = best[1]
    for k in range(8, 1, -1):          # prefer the shortest period that explains as well
        if P % k == 0 and P // k >= 3:
            rh, rb = _period_ratio(raw, hi, n, P // k, True)
            if rh <= best[0] + 0.03 and ok(P // k, rh, rb):
                return P // k
    return P


def _analyze_records(data):
    n = len(data)
    if n < 256:
        return None
    d = np.frombuffer(data, np.uint8)
    cdef const uint8_t[::1] dv = data
    # length-prefixed records first
    best = None
    for o in range(0, 4):
        for big in (1, 0):
            for adj in range(0, 9):
                cnt, end = _chain2(dv, o, big, adj)
                if cnt < 16 or n - end > n // 16 or n // cnt < 8:
                    continue
                if best is None or end > best[1] or (end == best[1] and cnt < best[0]):
                    best = (cnt, end, o, big, adj)
    if best is not None:
        cnt, end, o, big, adj = best
        lens, _ = _varrec_split(data, o, big, adj, cnt)
        starts = np.zeros(cnt, np.int64)
        starts[1:] = np.cumsum(lens)[:-1]
        parts = []
        nrow = 0
        for L in np.unique(lens).tolist():
            idx = np.flatnonzero(lens == L)
            cols = np.concatenate([np.arange(0, o), np.arange(o + 2, L)]).astype(np.int64)
            M = d[starts[idx][:, None] + cols[None, :]]
            nrow += _group_body(M, parts)
        parts.append(data[end:])
        body, xl = _finish_body(parts, d, nrow, n)
        params = bytearray([_VERSION, 1, xl])
        for v in (o, big, adj, cnt):
            _put(params, v)
        return MODEL_RECORDS, bytes(params), [("ints", _i64(lens)), ("bytes", body)]
    P = _fixed_period(data)
    if P == 0:
        return None
    rows = n // P
    parts = []
    nrow = _group_body(d[:rows * P].reshape(rows, P), parts)
    parts.append(data[rows * P:])
    body, xl = _finish_body(parts, d, nrow, n)
    params = bytearray([_VERSION, 0, xl])
    _put(params, P)
    _put(params, rows)
    return MODEL_RECORDS, bytes(params), [("bytes", body)]


def _reconstruct_records(params, streams, out_len):
    r = _Reader(params)
    if r.varint() != _VERSION:
        raise ValueError("records model: bad version")
    var = r.varint(1)
    xl = r.varint(1)
    if var:
        o = r.varint(3)
        big = r.varint(1)
        adj = r.varint(8)
        cnt = r.varint(out_len)
        r.end()
        if len(streams) != 2:
            raise ValueError("records model: wrong number of streams")
        lens = _ints_from(streams[0], "lengths", out_len)
        body = _as_bytes(streams[1], "body")
    else:
        P = r.varint(out_len)
        rows = r.varint(out_len)
        r.end()
        if len(streams) != 1:
            raise ValueError("records model: wrong number of streams")
        body = _as_bytes(streams[0], "body")
        if P < 1 or rows * P > out_len:
            raise ValueError("records model: sizes inconsistent")
    b = np.frombuffer(body, np.uint8)
    if xl:
        b = _XLAT_INV[b]
    out = np.empty(out_len, np.uint8)
    if not var:
        if len(b) < P:
            raise ValueError("records model: body truncated")
        modes = b[:P]
        M, off = _unlay(b, P, rows, modes)
        tail = b[off:]
        if rows * P + len(tail) != out_len:
            raise ValueError("records model: sizes inconsistent")
        out[:rows * P] = M.reshape(-1)
        out[rows * P:] = tail
        return out.tobytes()
    minl = max(o + 2, 4)
    if len(lens) != cnt:
        raise ValueError("records model: record count mismatch")
    if cnt and (lens.min() < minl or lens.max() > 65535 + adj):
        raise ValueError("records model: impossible record length")
    total = int(lens.sum()) if cnt else 0
    if total > out_len:
        raise ValueError("records model: sizes inconsistent")
    starts = np.zeros(cnt, np.int64)
    if cnt:
        starts[1:] = np.cumsum(lens)[:-1]
    off = 0
    for L in np.unique(lens).tolist():
        idx = np.flatnonzero(lens == L)
        w = L - 2
        if off + w > len(b):
            raise ValueError("records model: body truncated")
        modes = b[off:off + w]
        M, off = _unlay(b, off + w, len(idx), modes)
        cols = np.concatenate([np.arange(0, o), np.arange(o + 2, L)]).astype(np.int64)
        out[starts[idx][:, None] + cols[None, :]] = M
        f = L - adj
        hi, lo = (f >> 8) & 0xFF, f & 0xFF
        out[starts[idx] + o] = hi if big else lo
        out[starts[idx] + o + 1] = lo if big else hi
    if total + (len(b) - off) != out_len:
        raise ValueError("records model: sizes inconsistent")
    out[total:] = b[off:]
    return out.tobytes()
