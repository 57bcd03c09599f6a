# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L2 models 4 (fixed-length records) and 5 (length-prefixed records). The encoder no longer
picks them (model 6, records.pyx, covers both), but frames written by earlier encoders carry
them and a hostile frame can name them, so their decoders stay; tests/unit/codec/
test_l2_legacy_models.py drives both directions. See spec.md."""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free
from libc.math cimport log2

import zlib
import numpy as np

from cobol_codec.codecs.structure.shared import _VERSION, _Reader, _as_bytes, _i64, _ints_from
from cobol_codec.codecs.structure.chars cimport PH_NUM, PH_STR, _copy_term, _isalnum, _isalpha, _isdig, _ishex, _put
from cobol_codec.codecs.structure.shared import MODEL_FIXED, MODEL_VARREC

# =========================================================================== records

def _autocorr(const uint8_t[::1] d, Py_ssize_t maxp, Py_ssize_t m):
    """score[P] = matches d[i] == d[i+P] for i < m."""
    sc = np.zeros(maxp + 1, np.int64)
    cdef int64_t[::1] s = sc
    cdef Py_ssize_t P, i, cnt
    with nogil:
        for P in range(1, maxp + 1):
            cnt = 0
            for i in range(m):
                cnt += d[i] == d[i + P]
            s[P] = cnt
    return sc


def _zsize(b):
    return len(zlib.compress(b, 1))


def _transpose(arr, rows, width):
    if rows == 0 or width == 0:
        return b""
    return np.ascontiguousarray(arr[:rows * width].reshape(rows, width).T).tobytes()


def _analyze_fixed(data):
    n = len(data)
    if n < 1024:
        return None
    d = np.frombuffer(data, np.uint8)
    maxp = min(4096, n // 4)
    m = min(n - maxp, 16384)
    if m < 256:
        return None
    sc = _autocorr(data, maxp, m)
    sc[:2] = -1
    top = [int(p) for p in np.argsort(-sc, kind="stable")[:6]]
    cand = list(top)
    import math
    for i in range(len(top)):
        for j in range(i + 1, len(top)):
            g = math.gcd(top[i], top[j])
            if g >= 2 and g not in cand and sc[g] >= 0.8 * sc[top[0]]:
                cand.append(g)
    cand = cand[:14]
    sample = data[:1 << 18]
    ds = np.frombuffer(sample, np.uint8)
    base = _zsize(sample)
    best = None
    for P in cand:
        rows = len(sample) // P
        if rows < 4:
            continue
        z = _zsize(_transpose(ds, rows, P)) + _zsize(sample[rows * P:])
        if best is None or z < best[0]:
            best = (z, P)
    if best is None or best[0] > 0.9 * base:
        return None
    P = best[1]
    rows = n // P
    params = bytearray([_VERSION])
    _put(params, P)
    _put(params, rows)
    return MODEL_FIXED, bytes(params), [("bytes", _transpose(d, rows, P)), ("bytes", data[rows * P:])]


def _reconstruct_fixed(params, streams, out_len):
    r = _Reader(params)
    if r.varint() != _VERSION:
        raise ValueError("fixed model: bad version")
    P = r.varint(out_len)
    rows = r.varint(out_len)
    r.end()
    if len(streams) != 2:
        raise ValueError("fixed model: wrong number of streams")
    body = _as_bytes(streams[0], "body")
    tail = _as_bytes(streams[1], "tail")
    if P < 1 or rows * P != len(body) or len(body) + len(tail) != out_len:
        raise ValueError("fixed model: sizes inconsistent")
    if rows == 0:
        return tail
    a = np.frombuffer(body, np.uint8).reshape(P, rows).T
    return np.ascontiguousarray(a).tobytes() + tail


def _chain(const uint8_t[::1] d, int o, int big, int adj, int hdr):
    """Walk length-prefixed records. Returns (count, end) or (-1, 0) if the header is
    not constant (bytes of the first `hdr` bytes other than the length field)."""
    cdef Py_ssize_t n = d.shape[0], p = 0, cnt = 0, L, k
    cdef Py_ssize_t minl = max(o + 2, hdr)
    with nogil:
        while p + minl <= n:
            if big:
                L = (d[p + o] << 8 | d[p + o + 1]) + adj
            else:
                L = (d[p + o + 1] << 8 | d[p + o]) + adj
            if L < minl:
                break
            if p + L > n:
                break
            if cnt:
                for k in range(hdr):
                    if (k < o or k >= o + 2) and d[p + k] != d[k]:
                        with gil:
                            return cnt, p
            p += L
            cnt += 1
    return cnt, p


def _varrec_split(data, o, big, adj, cnt):
    d = np.frombuffer(data, np.uint8)
    lens = np.empty(cnt, np.int64)
    p = 0
    for i in range(cnt):
        f = (data[p + o] << 8 | data[p + o + 1]) if big else (data[p + o + 1] << 8 | data[p + o])
        lens[i] = f + adj
        p += lens[i]
    return lens, p


def _varrec_body(d, lens, o, transpose):
    """Bodies (record minus its 2 length bytes), grouped by length, optionally transposed."""
    starts = np.zeros(len(lens), np.int64)
    starts[1:] = np.cumsum(lens)[:-1]
    parts = []
    for L in np.unique(lens).tolist():
        idx = np.flatnonzero(lens == L)
        cols = np.concatenate([np.arange(0, o), np.arange(o + 2, L)]).astype(np.int64)
        mat = d[starts[idx][:, None] + cols[None, :]]
        parts.append((mat.T if transpose else mat).tobytes())
    return b"".join(parts)


def _analyze_varrec(data):
    n = len(data)
    if n < 256:
        return None
    cdef const uint8_t[::1] dv = data
    best = None
    for o in range(0, 5):
        for big in (1, 0):
            for adj in range(0, 9):
                cnt, end = _chain(dv, o, big, adj, 4)
                if cnt < 8 or n - end > max(n // 16, 0) or (n - end) > 65535 + adj:
                    continue
                if n // cnt < 8:
                    continue
                if best is None or cnt < best[0] or (cnt == best[0] and end > best[1]):
                    best = (cnt, end, o, big, adj)
    if best is None:
        return None
    cnt, end, o, big, adj = best
    lens, end2 = _varrec_split(data, o, big, adj, cnt)
    d = np.frombuffer(data, np.uint8)
    sample_raw = _zsize(data[:end])
    choice = None
    for tr in (1, 0):
        body = _varrec_body(d, lens, o, tr)
        z = _zsize(body) + _zsize(_i64(lens))
        if choice is None or z < choice[0]:
            choice = (z, tr, body)
    if choice[0] > 0.97 * sample_raw:
        return None
    params = bytearray([_VERSION])
    for v in (o, big, adj, choice[1], cnt):
        _put(params, v)
    return MODEL_VARREC, bytes(params), [("ints", _i64(lens)), ("bytes", choice[2]), ("bytes", data[end:])]


def _reconstruct_varrec(params, streams, out_len):
    r = _Reader(params)
    if r.varint() != _VERSION:
        raise ValueError("varrec model: bad version")
    o = r.varint(4)
    big = r.varint(1)
    adj = r.varint(8)
    tr = r.varint(1)
    cnt = r.varint(out_len)
    r.end()
    if len(streams) != 3:
        raise ValueError("varrec model: wrong number of streams")
    lens = _ints_from(streams[0], "lengths", out_len)
    body = _as_bytes(streams[1], "body")
    tail = _as_bytes(streams[2], "tail")
    if len(lens) != cnt:
        raise ValueError("varrec model: record count mismatch")
    if cnt and (lens.min() < max(o + 2, 4) or lens.max() > 65535 + adj):
        raise ValueError("varrec model: impossible record length")
    total = int(lens.sum()) if cnt else 0
    if total + len(tail) != out_len or len(body) != total - 2 * cnt:
        raise ValueError("varrec model: sizes inconsistent")
    out = np.zeros(out_len, np.uint8)
    starts = np.zeros(cnt, np.int64)
    if cnt:
        starts[1:] = np.cumsum(lens)[:-1]
    b = np.frombuffer(body, np.uint8)
    off = 0
    for L in np.unique(lens).tolist():
        idx = np.flatnonzero(lens == L)
        k = len(idx)
        w = L - 2
        blk = b[off:off + k * w]
        off += k * w
        mat = blk.reshape(w, k).T if tr else blk.reshape(k, w)
        cols = np.concatenate([np.arange(0, o), np.arange(o + 2, L)]).astype(np.int64)
        out[starts[idx][:, None] + cols[None, :]] = mat
        f = L - adj
        hi, lo = (f >> 8) & 0xFF, f & 0xFF
        out[starts[idx] + o] = hi if big else lo
        out[starts[idx] + o + 1] = lo if big else hi
    if len(tail):
        out[total:] = np.frombuffer(tail, np.uint8)
    return out.tobytes()
