# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L2: structure models. Detects what a frame is from its content and splits it into
homogeneous streams.

analyze(data) -> (model, params, streams) or None
reconstruct(model, params, payloads, out_len) -> bytes

Models
  1 MODEL_LOG     line templates (CLP style): template dictionary, template id per line,
                  numeric variables as ints per column (column = template prefix up to the
                  slot, so shared header fields such as timestamps share one column),
                  alphanumeric ids as strings, exceptions verbatim.
  2 MODEL_CSV     delimited columns: timestamps -> epoch seconds, decimals -> scaled ints
                  with a per-cell format code, text columns, row / cell exceptions.
  4 MODEL_FIXED   fixed-length records, transposed column-major, tail kept.
  5 MODEL_VARREC  length-prefixed records (RDW style: a 16-bit length at a small offset);
                  lengths as ints, bodies grouped by length and transposed.

Decoders never trust their inputs: every count, offset and value is checked against the
expected output size and the stream sizes, and anything inconsistent raises ValueError.
"""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free
from libc.math cimport log2

import zlib
import numpy as np

MODEL_LOG = 1
MODEL_CSV = 2
MODEL_FIXED = 4
MODEL_VARREC = 5
MODEL_RECORDS = 6
MODELS = (MODEL_LOG, MODEL_CSV, MODEL_FIXED, MODEL_VARREC, MODEL_RECORDS)

_VERSION = 1
_MIN_INPUT = 64

# --------------------------------------------------------------------------- params I/O

cdef _put(bytearray out, object v):
    v = int(v)
    if v < 0:
        raise ValueError("negative param")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


class _Reader:
    __slots__ = ("b", "p")

    def __init__(self, b):
        self.b = bytes(b)
        self.p = 0

    def get(self, limit=(1 << 62)):
        cdef int shift = 0
        v = 0
        while True:
            if self.p >= len(self.b):
                raise ValueError("params truncated")
            c = self.b[self.p]
            self.p += 1
            v |= (c & 0x7F) << shift
            if not c & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ValueError("params varint too long")
        if v > limit:
            raise ValueError(f"param value {v} exceeds limit {limit}")
        return v

    def end(self):
        if self.p != len(self.b):
            raise ValueError("trailing bytes in params")


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

# --------------------------------------------------------------------------- char classes

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


# =========================================================================== LOG model

cdef enum:
    PH_NUM = 1
    PH_STR = 2

_MIN_NUM_COL = 48
_MIN_STR_COL = 256


def _log_scan(const uint8_t[::1] d, int64_t[::1] ls, int64_t[::1] le):
    """Tokenize every line; returns (tids, templates, vk, vv, vs, vl)."""
    cdef Py_ssize_t nl = ls.shape[0], li, i, j, a, b, L, nd, nruns, split, k, tl
    cdef Py_ssize_t nv = 0, cap, saved, maxlen = 1, ds, dl
    cdef bint allhex, dg, prevdg, bad
    cdef uint64_t val
    cdef uint8_t c
    for li in range(nl):
        if le[li] - ls[li] > maxlen:
            maxlen = le[li] - ls[li]
    cap = 1024 + d.shape[0] // 8
    vk_a = np.empty(cap, np.int64); vv_a = np.empty(cap, np.int64)
    vs_a = np.empty(cap, np.int64); vl_a = np.empty(cap, np.int64)
    cdef int64_t[::1] vk = vk_a, vv = vv_a, vs = vs_a, vl = vl_a
    tids_a = np.zeros(nl, np.int64)
    cdef int64_t[::1] tids = tids_a
    cdef uint8_t* tb = <uint8_t*>malloc(maxlen + 1)
    if tb == NULL:
        raise MemoryError()
    tdict = {}
    templates = []
    try:
        for li in range(nl):
            a = ls[li]; b = le[li]
            if nv + (b - a) + 2 > cap:
                cap = 2 * cap + (b - a) + 2
                vk_a = np.resize(vk_a, cap); vv_a = np.resize(vv_a, cap)
                vs_a = np.resize(vs_a, cap); vl_a = np.resize(vl_a, cap)
                vk = vk_a; vv = vv_a; vs = vs_a; vl = vl_a
            saved = nv
            tl = 0
            bad = False
            with nogil:
                i = a
                while i < b:
                    c = d[i]
                    if c < 3:
                        bad = True
                        break
                    if not _isalnum(c):
                        tb[tl] = c; tl += 1; i += 1
                        continue
                    j = i; nd = 0; nruns = 1; split = -1; allhex = True
                    prevdg = _isdig(c)
                    while j < b and _isalnum(d[j]):
                        dg = _isdig(d[j])
                        if dg:
                            nd += 1
                        if not _ishex(d[j]):
                            allhex = False
                        if j > i and dg != prevdg:
                            nruns += 1
                            if nruns == 2:
                                split = j
                        prevdg = dg
                        j += 1
                    L = j - i
                    if nd == 0:
                        memcpy(tb + tl, &d[i], L); tl += L
                    elif nd == L or (nruns == 2 and not (allhex and L > 4)):
                        # numeric part [ds, ds+dl); literal rest
                        if nd == L:
                            ds = i; dl = L
                        elif _isdig(d[i]):
                            ds = i; dl = split - i
                        else:
                            ds = split; dl = j - split
                            memcpy(tb + tl, &d[i], split - i); tl += split - i
                        val = 0
                        if dl <= 18:
                            for k in range(ds, ds + dl):
                                val = val * 10 + (d[k] - 48)
                        vs[nv] = ds; vl[nv] = dl
                        if dl <= 18:
                            vk[nv] = PH_NUM; vv[nv] = <int64_t>val
                            tb[tl] = PH_NUM
                        else:
                            vk[nv] = PH_STR; vv[nv] = 0
                            tb[tl] = PH_STR
                        tl += 1; nv += 1
                        if nd != L and _isdig(d[i]):
                            memcpy(tb + tl, &d[split], j - split); tl += j - split
                    else:
                        vk[nv] = PH_STR; vv[nv] = 0; vs[nv] = i; vl[nv] = L
                        nv += 1
                        tb[tl] = PH_STR; tl += 1
                    i = j
            if bad:
                nv = saved
                tids[li] = 0
                continue
            key = PyBytes_FromStringAndSize(<char*>tb, tl)
            t = tdict.get(key)
            if t is None:
                templates.append(key)
                t = len(templates)
                tdict[key] = t
            tids[li] = t
    finally:
        free(tb)
    return tids_a, templates, vk_a[:nv], vv_a[:nv], vs_a[:nv], vl_a[:nv]


def _log_layout(templates, tcounts, int minnum, int minstr):
    """Shared by encoder and decoder: map (template, slot) -> column -> stream.

    A column is identified by the template text up to and including the placeholder,
    so the leading fields common to many templates (timestamps, pids) share a column."""
    T = len(templates)
    colid = {}
    col_kind = []
    col_count = []
    slotcol = []
    soff = np.zeros(T + 2, np.int64)
    for t in range(1, T + 1):
        tb = templates[t - 1]
        soff[t] = len(slotcol)
        arr = np.frombuffer(tb, np.uint8)
        pos = np.flatnonzero((arr == PH_NUM) | (arr == PH_STR))
        prev = -1
        last = 0
        cnt = int(tcounts[t])
        for p in pos.tolist():
            key = (prev, tb[last:p + 1])
            c = colid.get(key)
            if c is None:
                c = len(col_kind)
                colid[key] = c
                col_kind.append(tb[p])
                col_count.append(0)
            col_count[c] += cnt
            slotcol.append(c)
            prev = c
            last = p + 1
    soff[T + 1] = len(slotcol)
    ncol = len(col_kind)
    colstream = np.zeros(max(ncol, 1), np.int64)
    nnum = 0
    nstr = 0
    for c in range(ncol):
        if col_kind[c] == PH_NUM and col_count[c] >= minnum:
            colstream[c] = nnum; nnum += 1
        elif col_kind[c] == PH_STR and col_count[c] >= minstr:
            colstream[c] = nstr; nstr += 1
    for c in range(ncol):
        if col_kind[c] == PH_NUM and col_count[c] < minnum:
            colstream[c] = nnum
        elif col_kind[c] == PH_STR and col_count[c] < minstr:
            colstream[c] = nstr
    return (np.asarray(slotcol, np.int64), soff, np.asarray(col_kind + [0], np.int64),
            colstream, nnum + 1, nstr + 1, np.asarray(col_count + [0], np.int64))


def _var_columns(int64_t[::1] tids, int64_t[::1] slotcol, int64_t[::1] soff, Py_ssize_t nv):
    out = np.empty(nv, np.int64)
    cdef int64_t[::1] o = out
    cdef Py_ssize_t i, s, v = 0, t
    for i in range(tids.shape[0]):
        t = tids[i]
        if t == 0:
            continue
        for s in range(soff[t], soff[t + 1]):
            if v >= nv:
                raise ValueError("internal: variable count mismatch")
            o[v] = slotcol[s]
            v += 1
    if v != nv:
        raise ValueError("internal: variable count mismatch")
    return out


def _gather(const uint8_t[::1] d, int64_t[::1] starts, int64_t[::1] lens, int64_t[::1] idx):
    """Concatenate d[starts[k]:starts[k]+lens[k]] + b'\\n' for k in idx."""
    cdef Py_ssize_t total = 0, i, k, p = 0
    for i in range(idx.shape[0]):
        total += lens[idx[i]] + 1
    out = bytearray(total)
    if total == 0:
        return b""
    cdef uint8_t[::1] o = out
    with nogil:
        for i in range(idx.shape[0]):
            k = idx[i]
            memcpy(&o[p], &d[starts[k]], lens[k])
            p += lens[k]
            o[p] = 10
            p += 1
    return bytes(out)


def _analyze_log(data, starts, ends, final_nl):
    cdef const uint8_t[::1] d = data
    n = len(data)
    tids, templates, vk, vv, vs, vl = _log_scan(d, starts, ends)
    T = len(templates)
    nl = len(tids)
    tdict_bytes = b"\n".join(templates)
    if len(tdict_bytes) > n // 2 or T > max(64, nl // 2):
        return None
    tcounts = np.bincount(tids, minlength=T + 1)
    slotcol, soff, col_kind, colstream, nnum, nstr, col_count = _log_layout(
        templates, tcounts, _MIN_NUM_COL, _MIN_STR_COL)
    ncol = len(col_kind) - 1
    vcol = _var_columns(tids, slotcol, soff, len(vk))
    isnum = vk == PH_NUM
    darr = np.frombuffer(data, np.uint8)
    # width modes per numeric column
    lz = isnum & (vl > 1) & (darr[np.minimum(vs, n - 1)] == 48) if len(vk) else np.zeros(0, bool)
    has_lz = np.bincount(vcol[lz], minlength=ncol + 1) > 0 if len(vk) else np.zeros(ncol + 1, bool)
    minlen = np.full(ncol + 1, 1 << 30, np.int64)
    maxlen = np.zeros(ncol + 1, np.int64)
    if isnum.any():
        np.minimum.at(minlen, vcol[isnum], vl[isnum])
        np.maximum.at(maxlen, vcol[isnum], vl[isnum])
    mode = np.zeros(ncol + 1, np.int64)
    width = np.zeros(ncol + 1, np.int64)
    fixed = has_lz & (minlen == maxlen)
    mode[fixed] = 1
    width[fixed] = maxlen[fixed]
    mode[has_lz & ~fixed] = 2
    params = bytearray([_VERSION])
    _put(params, final_nl)
    _put(params, nl)
    _put(params, T)
    _put(params, _MIN_NUM_COL)
    _put(params, _MIN_STR_COL)
    _put(params, ncol)
    for c in range(ncol):
        if col_kind[c] == PH_NUM:
            _put(params, mode[c])
            if mode[c] == 1:
                _put(params, width[c])
    # exceptions
    exc_idx = np.flatnonzero(tids == 0)
    exc = _gather(d, starts, ends - starts, exc_idx)
    vmode = mode[vcol] if len(vk) else np.zeros(0, np.int64)
    widths = vl[isnum & (vmode == 2)]
    streams = [("bytes", tdict_bytes), ("ints", _i64(tids)), ("bytes", exc), ("ints", _i64(widths))]
    sid = colstream[vcol] if len(vk) else np.zeros(0, np.int64)
    num_idx = np.flatnonzero(isnum)
    nsid = sid[num_idx]
    order = num_idx[np.argsort(nsid, kind="stable")]
    bounds = np.searchsorted(np.sort(nsid), np.arange(nnum + 1))
    vals_sorted = vv[order]
    for s in range(nnum):
        streams.append(("ints", _i64(vals_sorted[bounds[s]:bounds[s + 1]])))
    str_idx = np.flatnonzero(~isnum)
    ssid = sid[str_idx]
    order = str_idx[np.argsort(ssid, kind="stable")]
    bounds = np.searchsorted(np.sort(ssid), np.arange(nstr + 1))
    for s in range(nstr):
        streams.append(("bytes", _gather(d, vs, vl, order[bounds[s]:bounds[s + 1]])))
    return MODEL_LOG, bytes(params), streams


cdef int _put_num(uint8_t* out, Py_ssize_t* pos, Py_ssize_t out_len, int64_t v, int w) noexcept nogil:
    cdef uint8_t tmp[24]
    cdef int k = 0, i
    cdef uint64_t u
    if v < 0:
        return -3
    u = <uint64_t>v
    while True:
        tmp[k] = 48 + <uint8_t>(u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    if w > k:
        if w > 20:
            return -3
        while k < w:
            tmp[k] = 48
            k += 1
    elif w > 0 and w < k:
        return -3
    if pos[0] + k > out_len:
        return -1
    for i in range(k):
        out[pos[0] + i] = tmp[k - 1 - i]
    pos[0] += k
    return 0


cdef int _copy_term(uint8_t* out, Py_ssize_t* pos, Py_ssize_t out_len,
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


def _log_rebuild(int64_t[::1] tids, const uint8_t[::1] tbuf, int64_t[::1] toff,
                 int64_t[::1] slotcol, int64_t[::1] soff, int64_t[::1] col_kind,
                 int64_t[::1] colstream, int64_t[::1] colmode, int64_t[::1] colwidth,
                 int64_t[::1] numvals, int64_t[::1] numcur, int64_t[::1] numend,
                 const uint8_t[::1] strbuf, int64_t[::1] strcur, int64_t[::1] strend,
                 int64_t[::1] widths, const uint8_t[::1] exc, int final_nl, Py_ssize_t out_len):
    out = bytearray(out_len)
    cdef uint8_t* o = NULL
    cdef uint8_t dummy[1]
    o = dummy
    if out_len:
        o = <uint8_t*>(<char*>out)
    cdef Py_ssize_t pos = 0, i, nl = tids.shape[0], T = toff.shape[0] - 1
    cdef int64_t t, p, pe, s, se, col, st, excur = 0, wcur = 0, w
    cdef int err = 0
    cdef uint8_t c
    cdef const uint8_t* tb = &dummy[0]
    cdef const uint8_t* sb = &dummy[0]
    cdef const uint8_t* eb = &dummy[0]
    cdef Py_ssize_t nwid = widths.shape[0], nexc = exc.shape[0]
    cdef Py_ssize_t ncolk = min(col_kind.shape[0], colstream.shape[0], colmode.shape[0], colwidth.shape[0])
    cdef Py_ssize_t nnumk = min(numcur.shape[0], numend.shape[0]), nstrk = min(strcur.shape[0], strend.shape[0])
    cdef Py_ssize_t nslot = slotcol.shape[0]
    if soff.shape[0] < T + 2 or tbuf.shape[0] < toff[T] - 1:
        raise ValueError("log model: layout does not match the templates")
    if tbuf.shape[0]:
        tb = &tbuf[0]
    if strbuf.shape[0]:
        sb = &strbuf[0]
    if nexc:
        eb = &exc[0]
    with nogil:
        for i in range(nl):
            t = tids[i]
            if t < 0 or t > T:
                err = -4; break
            if t == 0:
                err = _copy_term(o, &pos, out_len, eb, &excur, nexc)
                if err:
                    break
            else:
                p = toff[t - 1]; pe = toff[t] - 1
                s = soff[t]; se = soff[t + 1]
                if s < 0 or se > nslot:
                    err = -4; break
                while p < pe:
                    c = tb[p]
                    p += 1
                    if c > 2:
                        if pos >= out_len:
                            err = -1; break
                        o[pos] = c; pos += 1
                        continue
                    if s >= se:
                        err = -4; break
                    col = slotcol[s]; s += 1
                    # A hostile template dictionary can disagree with the layout: check every index.
                    if col < 0 or col >= ncolk or col_kind[col] != c:
                        err = -4; break
                    st = colstream[col]
                    if st < 0 or st >= (nnumk if c == PH_NUM else nstrk):
                        err = -4; break
                    if c == PH_NUM:
                        if numcur[st] >= numend[st]:
                            err = -2; break
                        w = 0
                        if colmode[col] == 1:
                            w = colwidth[col]
                        elif colmode[col] == 2:
                            if wcur >= nwid:
                                err = -2; break
                            w = widths[wcur]; wcur += 1
                            if w < 1 or w > 20:
                                err = -3; break
                        err = _put_num(o, &pos, out_len, numvals[numcur[st]], <int>w)
                        numcur[st] += 1
                        if err:
                            break
                    else:
                        err = _copy_term(o, &pos, out_len, sb, &strcur[st], strend[st])
                        if err:
                            break
                if err:
                    break
            if i + 1 < nl or final_nl:
                if pos >= out_len:
                    err = -1; break
                o[pos] = 10; pos += 1
    if err == -1:
        raise ValueError("log model: output exceeds expected size")
    if err == -2:
        raise ValueError("log model: a stream is truncated")
    if err == -3:
        raise ValueError("log model: impossible number or width")
    if err == -4:
        raise ValueError("log model: bad template id or slot")
    if pos != out_len:
        raise ValueError("log model: output shorter than expected")
    for k in range(numcur.shape[0]):
        if numcur[k] != numend[k]:
            raise ValueError("log model: unused numeric values")
    for k in range(strcur.shape[0]):
        if strcur[k] != strend[k]:
            raise ValueError("log model: unused string values")
    if wcur != nwid or excur != nexc:
        raise ValueError("log model: unused widths or exceptions")
    return bytes(out)


def _reconstruct_log(params, streams, out_len):
    r = _Reader(params)
    if r.get() != _VERSION:
        raise ValueError("log model: bad version")
    final_nl = r.get(1)
    nl = r.get(out_len + 1)
    T = r.get(out_len + 1)
    minnum = r.get(1 << 30)
    minstr = r.get(1 << 30)
    ncol = r.get(out_len + 1)
    if len(streams) < 4:
        raise ValueError("log model: missing streams")
    tdict = _as_bytes(streams[0], "templates")
    if len(tdict) > out_len + T:
        raise ValueError("log model: template dictionary too large")
    templates = tdict.split(b"\n") if T else []
    if T and len(templates) != T or (T == 0 and tdict):
        raise ValueError("log model: template count mismatch")
    tids = _ints_from(streams[1], "template ids", out_len + 1)
    if len(tids) != nl:
        raise ValueError("log model: line count mismatch")
    if nl and (tids.min() < 0 or tids.max() > T):
        raise ValueError("log model: template id out of range")
    tcounts = np.bincount(tids, minlength=T + 1)
    slotcol, soff, col_kind, colstream, nnum, nstr, col_count = _log_layout(templates, tcounts, minnum, minstr)
    if len(col_kind) - 1 != ncol:
        raise ValueError("log model: column count mismatch")
    colmode = np.zeros(ncol + 1, np.int64)
    colwidth = np.zeros(ncol + 1, np.int64)
    for c in range(ncol):
        if col_kind[c] == PH_NUM:
            m = r.get(2)
            colmode[c] = m
            if m == 1:
                colwidth[c] = r.get(20)
    r.end()
    if len(streams) != 4 + nnum + nstr:
        raise ValueError("log model: wrong number of streams")
    exc = _as_bytes(streams[2], "exceptions")
    widths = _ints_from(streams[3], "widths", out_len + 1)
    nums = [_ints_from(streams[4 + k], "numbers", out_len + 1) for k in range(nnum)]
    numcnt = np.array([len(x) for x in nums], np.int64)
    numend = np.cumsum(numcnt)
    numcur = numend - numcnt
    numvals = np.concatenate(nums) if nums else np.zeros(0, np.int64)
    strs = [_as_bytes(streams[4 + nnum + k], "strings") for k in range(nstr)]
    strlen = np.array([len(x) for x in strs], np.int64)
    strend = np.cumsum(strlen)
    strcur = strend - strlen
    strbuf = b"".join(strs)
    tlens = np.array([len(t) + 1 for t in templates], np.int64)
    toff = np.zeros(T + 1, np.int64)
    toff[1:] = np.cumsum(tlens)
    return _log_rebuild(np.ascontiguousarray(tids), tdict, toff, slotcol, soff, col_kind, colstream,
                        colmode, colwidth, numvals, numcur, numend, strbuf, strcur, strend,
                        np.ascontiguousarray(widths), exc, final_nl, out_len)


# =========================================================================== CSV model

cdef enum:
    CT_TEXT = 0
    CT_TS = 1
    CT_NUM = 2

cdef int64_t _P10[19]
_P10[0] = 1
for _k in range(1, 19):
    _P10[_k] = _P10[_k - 1] * 10


cdef inline int _dim(int64_t y, int m) noexcept nogil:
    if m == 2:
        return 29 if ((y % 4 == 0 and y % 100 != 0) or y % 400 == 0) else 28
    if m == 4 or m == 6 or m == 9 or m == 11:
        return 30
    return 31


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline void _civil_from_days(int64_t z, int64_t* y, int64_t* m, int64_t* d) noexcept nogil:
    cdef int64_t era, doe, yoe, doy, mp
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y[0] = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d[0] = doy - (153 * mp + 2) // 5 + 1
    m[0] = mp + (3 if mp < 10 else -9)
    if m[0] <= 2:
        y[0] += 1


cdef inline int _dig2(const uint8_t* p, int* ok) noexcept nogil:
    if not (_isdig(p[0]) and _isdig(p[1])):
        ok[0] = 0
        return 0
    return (p[0] - 48) * 10 + (p[1] - 48)


cdef int _parse_ts(const uint8_t* p, Py_ssize_t L, int64_t* out) noexcept nogil:
    """YYYY-MM-DD[ T]HH:MM:SS -> epoch seconds; returns 0 (no), 1 (' '), 2 ('T')."""
    cdef int ok = 1, code
    cdef int64_t y, mo, dd, hh, mi, ss
    if L != 19 or p[4] != 45 or p[7] != 45 or p[13] != 58 or p[16] != 58:
        return 0
    if p[10] == 32:
        code = 1
    elif p[10] == 84:
        code = 2
    else:
        return 0
    y = _dig2(p, &ok) * 100 + _dig2(p + 2, &ok)
    mo = _dig2(p + 5, &ok); dd = _dig2(p + 8, &ok)
    hh = _dig2(p + 11, &ok); mi = _dig2(p + 14, &ok); ss = _dig2(p + 17, &ok)
    if not ok or mo < 1 or mo > 12 or dd < 1 or dd > _dim(y, <int>mo) or hh > 23 or mi > 59 or ss > 59:
        return 0
    out[0] = _days_from_civil(y, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss
    return code


cdef int _parse_dec(const uint8_t* p, Py_ssize_t L, int S, int64_t* out, int64_t* res) noexcept nogil:
    """Canonical decimal -> code 1 (integer) or 2+s (s fraction digits); 0 = not canonical.
    With S >= 0 the value is scaled to S fraction digits; with S < 0 out = mantissa."""
    cdef Py_ssize_t i = 0, ist, nint, fs, s = 0
    cdef int code = 1
    cdef bint neg = False
    cdef uint64_t mant = 0, r
    cdef int64_t rr
    if L > 0 and p[0] == 45:
        neg = True
        i = 1
    ist = i
    while i < L and _isdig(p[i]):
        i += 1
    nint = i - ist
    if nint == 0 or (nint > 1 and p[ist] == 48):
        return 0
    if i < L and p[i] == 46:
        i += 1
        fs = i
        while i < L and _isdig(p[i]):
            i += 1
        s = i - fs
        code = 2 + <int>s
    if i != L:
        return 0
    if nint + s > 18:
        return 0
    if S >= 0 and nint + S > 18:
        return 0
    for i in range(ist, L):
        if p[i] != 46:
            mant = mant * 10 + (p[i] - 48)
    if neg and mant == 0:
        return 0
    res[0] = 0
    if S >= 0:
        if s <= S:
            mant *= <uint64_t>_P10[S - s]
        else:
            r = mant % <uint64_t>_P10[s - S]
            mant //= <uint64_t>_P10[s - S]
            rr = <int64_t>r
            if 2 * r >= <uint64_t>_P10[s - S]:          # round to nearest: small residuals
                mant += 1
                rr = <int64_t>r - _P10[s - S]
            res[0] = -rr if neg else rr
    out[0] = -<int64_t>mant if neg else <int64_t>mant
    return code


def _csv_detect(data, starts, ends):
    nl = len(starts)
    m = min(nl, 400)
    if m < 8:
        return None
    lines = [data[starts[i]:ends[i]] for i in range(m - (1 if m == nl else 0))]
    best = None
    for dl in b",\t;|":
        counts = [ln.count(dl) for ln in lines]
        vals, cnt = np.unique(counts, return_counts=True)
        k = int(vals[np.argmax(cnt)])
        frac = cnt.max() / len(counts)
        if k >= 1 and k < 256 and frac >= 0.9:
            if best is None or (frac, k) > (best[1], best[2]):
                best = (dl, frac, k)
    if best is None:
        return None
    return best[0], best[2] + 1


def _csv_parse(const uint8_t[::1] d, int64_t[::1] ls, int64_t[::1] le, int delim, int ncols,
               int64_t[::1] ctype, int64_t[::1] cscale, int crlf, int final_nl):
    """Returns rowkind, vals (ncols x nl), codes (ncols x nl), tstart, tlen (cells), nrows."""
    cdef Py_ssize_t nl = ls.shape[0], r, a, b, i, c, cs, nr = 0
    rowkind_a = np.zeros(nl, np.int64)
    vals_a = np.zeros((ncols, nl), np.int64)
    codes_a = np.zeros((ncols, nl), np.int64)
    ts_a = np.zeros((ncols, nl), np.int64)
    tl_a = np.zeros((ncols, nl), np.int64)
    res_a = np.zeros((ncols, nl), np.int64)
    cdef int64_t[:, ::1] resid = res_a
    cdef int64_t rv
    cdef int64_t[::1] rowkind = rowkind_a
    cdef int64_t[:, ::1] vals = vals_a
    cdef int64_t[:, ::1] codes = codes_a
    cdef int64_t[:, ::1] tst = ts_a
    cdef int64_t[:, ::1] tln = tl_a
    cdef int64_t prev[256]
    cdef int64_t v
    cdef int code, cnt
    cdef int64_t cellpos[257]
    if ncols > 256:
        raise ValueError("too many columns")
    for c in range(ncols):
        prev[c] = 0
    with nogil:
        for r in range(nl):
            a = ls[r]; b = le[r]
            if crlf and (r + 1 < nl or final_nl):
                if b <= a or d[b - 1] != 13:
                    rowkind[r] = 1
                    continue
                b -= 1
            cnt = 0
            cellpos[0] = a
            for i in range(a, b):
                if d[i] == delim:
                    cnt += 1
                    if cnt >= ncols:
                        break
                    cellpos[cnt] = i + 1
            if cnt != ncols - 1:
                rowkind[r] = 1
                continue
            cellpos[ncols] = b + 1
            for c in range(ncols):
                cs = cellpos[c]
                tst[c, nr] = cs
                tln[c, nr] = cellpos[c + 1] - 1 - cs
                code = 0
                v = prev[c]
                if ctype[c] == CT_TS:
                    code = _parse_ts(&d[cs] if cs < d.shape[0] else &d[0], tln[c, nr], &v)
                elif ctype[c] == CT_NUM:
                    code = _parse_dec(&d[cs] if cs < d.shape[0] else &d[0], tln[c, nr], <int>cscale[c], &v, &rv)
                    resid[c, nr] = rv
                if code == 0:
                    v = prev[c]
                vals[c, nr] = v
                codes[c, nr] = code
                prev[c] = v
            nr += 1
    return rowkind_a, vals_a, codes_a, ts_a, tl_a, nr, res_a


def _csv_types(const uint8_t[::1] d, starts, ends, int delim, int ncols, int crlf):
    """Pick a type and scale per column from a sample of rows."""
    cdef Py_ssize_t m = min(len(starts), 2000), r, c
    cdef int64_t v
    cdef const uint8_t* p
    cdef int code
    nts = np.zeros(ncols, np.int64); nnum = np.zeros(ncols, np.int64)
    maxs = np.zeros(ncols, np.int64); tot = 0
    hist = np.zeros((ncols, 20), np.int64)
    cdef int64_t rv
    for r in range(m):
        a = starts[r]; b = ends[r]
        if crlf and b > a and d[b - 1] == 13:
            b -= 1
        cells = bytes(d[a:b]).split(bytes([delim]))
        if len(cells) != ncols:
            continue
        tot += 1
        for c in range(ncols):
            cell = cells[c]
            if not cell:
                continue
            p = cell
            if _parse_ts(p, len(cell), &v):
                nts[c] += 1
            code = _parse_dec(p, len(cell), -1, &v, &rv)
            if code:
                nnum[c] += 1
                hist[c, max(code - 2, 0)] += 1
    ctype = np.zeros(ncols, np.int64)
    if tot == 0:
        return ctype, maxs, 0
    for c in range(ncols):
        cum = np.cumsum(hist[c])
        if cum[-1]:
            maxs[c] = int(np.searchsorted(cum, 0.5 * cum[-1]))
        if nts[c] >= 0.8 * tot:
            ctype[c] = CT_TS
        elif nnum[c] >= 0.8 * tot:
            ctype[c] = CT_NUM
    return ctype, maxs, tot


def _analyze_csv(data, starts, ends, final_nl):
    det = _csv_detect(data, starts, ends)
    if det is None:
        return None
    delim, ncols = det
    cdef const uint8_t[::1] d = data
    nl = len(starts)
    darr = np.frombuffer(data, np.uint8)
    nterm = nl if final_nl else nl - 1
    crlf = 0
    if nterm > 0:
        te = ends[:nterm]
        if np.all(te > starts[:nterm]) and np.all(darr[te - 1] == 13):
            crlf = 1
    cends = ends.copy()
    if crlf:
        cends[:nterm] -= 1
    ctype, cscale, tot = _csv_types(d, starts, ends, delim, ncols, crlf)
    typed = int(np.count_nonzero(ctype))
    if typed * 2 < ncols:
        return None
    rowkind, vals, codes, tst, tln, nr, resid = _csv_parse(d, starts, ends, delim, ncols, ctype, cscale, crlf, final_nl)
    if nr < 0.9 * nl:
        return None
    params = bytearray([_VERSION])
    for v in (final_nl, crlf, delim, ncols, nl):
        _put(params, v)
    for c in range(ncols):
        _put(params, ctype[c])
        if ctype[c] == CT_NUM:
            _put(params, cscale[c])
    rexc = _gather(d, starts, cends - starts, np.flatnonzero(rowkind))
    cex_s = []
    cex_l = []
    streams = [("ints", _i64(rowkind)), ("bytes", rexc), None]
    for c in range(ncols):
        if ctype[c] == CT_TEXT:
            streams.append(("bytes", _gather(d, np.ascontiguousarray(tst[c, :nr]), np.ascontiguousarray(tln[c, :nr]),
                                             np.arange(nr, dtype=np.int64))))
        else:
            bad = np.flatnonzero(codes[c, :nr] == 0)
            # interleave in row order across columns below
            cex_s.append((bad, c))
            streams.append(("ints", _i64(vals[c, :nr])))
            streams.append(("ints", _i64(codes[c, :nr])))
            if ctype[c] == CT_NUM:
                streams.append(("ints", _i64(resid[c, :nr][codes[c, :nr] - 2 > cscale[c]])))
    # cell exceptions in (row, column) order
    rows = []
    cols = []
    for bad, c in cex_s:
        rows.append(bad)
        cols.append(np.full(len(bad), c, np.int64))
    if rows:
        rr = np.concatenate(rows); cc = np.concatenate(cols)
        order = np.lexsort((cc, rr))
        rr = rr[order]; cc = cc[order]
        s_arr = np.ascontiguousarray(tst[cc, rr]) if len(rr) else np.zeros(0, np.int64)
        l_arr = np.ascontiguousarray(tln[cc, rr]) if len(rr) else np.zeros(0, np.int64)
        cexc = _gather(d, s_arr, l_arr, np.arange(len(rr), dtype=np.int64))
    else:
        cexc = b""
    streams[2] = ("bytes", cexc)
    return MODEL_CSV, bytes(params), streams


cdef int _put_dec(uint8_t* o, Py_ssize_t* pos, Py_ssize_t out_len, int64_t v, int code, int S, int64_t res) noexcept nogil:
    cdef int s, k, i
    cdef int64_t m, a, ip, fp
    cdef uint8_t tmp[48]
    if v <= -_P10[18] or v >= _P10[18]:
        return -3
    if code == 1:
        s = 0
    else:
        s = code - 2
    if s > S:
        if s > 18 or res <= -_P10[s - S] or res >= _P10[s - S]:
            return -3
        if v > _P10[18 - (s - S)] or v < -_P10[18 - (s - S)]:
            return -3
        m = v * _P10[s - S] + res
        if m <= -_P10[18] or m >= _P10[18]:
            return -3
    else:
        if v % _P10[S - s]:
            return -3
        m = v // _P10[S - s]
    a = -m if m < 0 else m
    ip = a // _P10[s]
    fp = a % _P10[s]
    k = 0
    if code >= 2:
        for i in range(s):
            tmp[k] = 48 + <uint8_t>(fp % 10); fp //= 10; k += 1
        tmp[k] = 46; k += 1
    while True:
        tmp[k] = 48 + <uint8_t>(ip % 10); ip //= 10; k += 1
        if ip == 0:
            break
    if m < 0:
        tmp[k] = 45; k += 1
    if pos[0] + k > out_len:
        return -1
    for i in range(k):
        o[pos[0] + i] = tmp[k - 1 - i]
    pos[0] += k
    return 0


cdef int _put_ts(uint8_t* o, Py_ssize_t* pos, Py_ssize_t out_len, int64_t v, int code) noexcept nogil:
    cdef int64_t days, secs, y, m, d
    cdef uint8_t* q
    if v < -62167219200LL or v > 253402300799LL:     # 0000-01-01 .. 9999-12-31
        return -3
    if pos[0] + 19 > out_len:
        return -1
    days = v // 86400
    secs = v - days * 86400
    _civil_from_days(days, &y, &m, &d)
    q = o + pos[0]
    q[0] = 48 + <uint8_t>(y // 1000); q[1] = 48 + <uint8_t>(y // 100 % 10)
    q[2] = 48 + <uint8_t>(y // 10 % 10); q[3] = 48 + <uint8_t>(y % 10); q[4] = 45
    q[5] = 48 + <uint8_t>(m // 10); q[6] = 48 + <uint8_t>(m % 10); q[7] = 45
    q[8] = 48 + <uint8_t>(d // 10); q[9] = 48 + <uint8_t>(d % 10)
    q[10] = 32 if code == 1 else 84
    q[11] = 48 + <uint8_t>(secs // 36000); q[12] = 48 + <uint8_t>(secs // 3600 % 10); q[13] = 58
    q[14] = 48 + <uint8_t>(secs % 3600 // 600); q[15] = 48 + <uint8_t>(secs % 600 // 60); q[16] = 58
    q[17] = 48 + <uint8_t>(secs % 60 // 10); q[18] = 48 + <uint8_t>(secs % 10)
    pos[0] += 19
    return 0


def _csv_rebuild(int64_t[::1] rowkind, const uint8_t[::1] rexc, const uint8_t[::1] cexc,
                 int64_t[::1] ctype, int64_t[::1] cscale, int64_t[:, ::1] vals, int64_t[:, ::1] codes,
                 const uint8_t[::1] text, int64_t[::1] tcur, int64_t[::1] tend,
                 int64_t[::1] resv, int64_t[::1] rcur_a, int64_t[::1] rend,
                 int delim, int crlf, int final_nl, Py_ssize_t out_len):
    out = bytearray(out_len)
    cdef uint8_t dummy[1]
    cdef uint8_t* o = dummy
    if out_len:
        o = <uint8_t*>(<char*>out)
    cdef const uint8_t* rb = dummy
    cdef const uint8_t* cb = dummy
    cdef const uint8_t* tb = dummy
    if rexc.shape[0]:
        rb = &rexc[0]
    if cexc.shape[0]:
        cb = &cexc[0]
    if text.shape[0]:
        tb = &text[0]
    cdef Py_ssize_t pos = 0, r, nl = rowkind.shape[0], c, ncols = ctype.shape[0], nr = 0, maxr = vals.shape[1]
    cdef int64_t rcur = 0, ccur = 0, code, rv
    cdef int err = 0
    with nogil:
        for r in range(nl):
            if rowkind[r] == 1:
                err = _copy_term(o, &pos, out_len, rb, &rcur, rexc.shape[0])
            elif rowkind[r] == 0:
                if nr >= maxr and ncols and ctype[0] != CT_TEXT:
                    err = -2
                for c in range(ncols):
                    if err:
                        break
                    if c:
                        if pos >= out_len:
                            err = -1; break
                        o[pos] = delim; pos += 1
                    if ctype[c] == CT_TEXT:
                        err = _copy_term(o, &pos, out_len, tb, &tcur[c], tend[c])
                        continue
                    if nr >= maxr:
                        err = -2; break
                    code = codes[c, nr]
                    if code == 0:
                        err = _copy_term(o, &pos, out_len, cb, &ccur, cexc.shape[0])
                    elif ctype[c] == CT_TS:
                        if code > 2:
                            err = -3
                        else:
                            err = _put_ts(o, &pos, out_len, vals[c, nr], <int>code)
                    else:
                        rv = 0
                        if code < 1 or code > 20:
                            err = -3
                        elif code - 2 > cscale[c]:
                            if rcur_a[c] >= rend[c]:
                                err = -2
                            else:
                                rv = resv[rcur_a[c]]
                                rcur_a[c] += 1
                        if not err:
                            err = _put_dec(o, &pos, out_len, vals[c, nr], <int>code, <int>cscale[c], rv)
                nr += 1
            else:
                err = -3
            if err:
                break
            if r + 1 < nl or final_nl:
                if crlf:
                    if pos >= out_len:
                        err = -1; break
                    o[pos] = 13; pos += 1
                if pos >= out_len:
                    err = -1; break
                o[pos] = 10; pos += 1
    if err == -1:
        raise ValueError("csv model: output exceeds expected size")
    if err == -2:
        raise ValueError("csv model: a stream is truncated")
    if err == -3:
        raise ValueError("csv model: impossible value")
    if pos != out_len:
        raise ValueError("csv model: output shorter than expected")
    if rcur != rexc.shape[0] or ccur != cexc.shape[0]:
        raise ValueError("csv model: unused exceptions")
    for c in range(ncols):
        if tcur[c] != tend[c] or rcur_a[c] != rend[c]:
            raise ValueError("csv model: unused text or residuals")
    return bytes(out)


def _reconstruct_csv(params, streams, out_len):
    r = _Reader(params)
    if r.get() != _VERSION:
        raise ValueError("csv model: bad version")
    final_nl = r.get(1)
    crlf = r.get(1)
    delim = r.get(255)
    ncols = r.get(256)
    nl = r.get(out_len + 1)
    if ncols < 1:
        raise ValueError("csv model: no columns")
    ctype = np.zeros(ncols, np.int64)
    cscale = np.zeros(ncols, np.int64)
    for c in range(ncols):
        ctype[c] = r.get(2)
        if ctype[c] == CT_NUM:
            cscale[c] = r.get(18)
    r.end()
    nint = int(np.count_nonzero(ctype))
    nnum = int(np.count_nonzero(ctype == CT_NUM))
    if len(streams) != 3 + (ncols - nint) + 2 * nint + nnum:
        raise ValueError("csv model: wrong number of streams")
    rowkind = _ints_from(streams[0], "row kinds", out_len + 1)
    if len(rowkind) != nl:
        raise ValueError("csv model: row count mismatch")
    nr = int(np.count_nonzero(rowkind == 0))
    if nr * max(ncols - 1, 1) > out_len + 1:
        raise ValueError("csv model: more rows than the output can hold")
    rexc = _as_bytes(streams[1], "row exceptions")
    cexc = _as_bytes(streams[2], "cell exceptions")
    vals = np.zeros((ncols, nr), np.int64)
    codes = np.zeros((ncols, nr), np.int64)
    texts = []
    tcnt = np.zeros(ncols, np.int64)
    resl = []
    rcnt = np.zeros(ncols, np.int64)
    k = 3
    for c in range(ncols):
        if ctype[c] == CT_TEXT:
            t = _as_bytes(streams[k], "text"); k += 1
            texts.append(t)
            tcnt[c] = len(t)
        else:
            v = _ints_from(streams[k], "values", out_len + 1)
            cd = _ints_from(streams[k + 1], "codes", out_len + 1)
            k += 2
            if ctype[c] == CT_NUM:
                rs = _ints_from(streams[k], "residuals", out_len + 1)
                k += 1
                resl.append(rs)
                rcnt[c] = len(rs)
            if len(v) != nr or len(cd) != nr:
                raise ValueError("csv model: column length mismatch")
            vals[c] = v
            codes[c] = cd
    tend = np.cumsum(tcnt)
    tcur = tend - tcnt
    rend = np.cumsum(rcnt)
    rcur = rend - rcnt
    resv = np.concatenate(resl) if resl else np.zeros(0, np.int64)
    return _csv_rebuild(rowkind, rexc, cexc, ctype, cscale, vals, codes, b"".join(texts),
                        tcur, tend, resv, rcur, rend, delim, crlf, final_nl, out_len)


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
    if r.get() != _VERSION:
        raise ValueError("fixed model: bad version")
    P = r.get(out_len)
    rows = r.get(out_len)
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
    if r.get() != _VERSION:
        raise ValueError("varrec model: bad version")
    o = r.get(4)
    big = r.get(1)
    adj = r.get(8)
    tr = r.get(1)
    cnt = r.get(out_len)
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


def _colcost(const uint8_t[::1] d, Py_ssize_t P, Py_ssize_t R, Py_ssize_t off):
    """Order-0 cost in bits of the R x P matrix starting at d[off], summed over columns."""
    cdef Py_ssize_t j, r, v
    cdef int64_t cnt[256]
    cdef double tot = 0.0
    if R <= 0 or P <= 0 or off + R * P > d.shape[0]:
        return 0.0
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
    cls = np.where(const, 0, np.where(zoned, 1, np.where(text, 2, 3))).astype(np.int64)
    for j in range(w):
        c = cls[j]
        if c == 3:
            modes[j] = CM_NIB if packed[j] else CM_COL
        elif j == 0 or (cls[j - 1] != c and (_SPLIT_TEXT_FIELDS or cls[j - 1] == 3)):
            modes[j] = CM_ROWSTART
        else:
            modes[j] = CM_ROW
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
    for src in (raw, hi):
        sc = _autocorr_fast(src, maxp, m)
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
    if r.get() != _VERSION:
        raise ValueError("records model: bad version")
    var = r.get(1)
    xl = r.get(1)
    if var:
        o = r.get(3)
        big = r.get(1)
        adj = r.get(8)
        cnt = r.get(out_len)
        r.end()
        if len(streams) != 2:
            raise ValueError("records model: wrong number of streams")
        lens = _ints_from(streams[0], "lengths", out_len)
        body = _as_bytes(streams[1], "body")
    else:
        P = r.get(out_len)
        rows = r.get(out_len)
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


# =========================================================================== dispatch

def _is_text(data):
    s = np.frombuffer(data[:1 << 16], np.uint8)
    if len(s) == 0:
        return False
    printable = np.count_nonzero((s >= 32) & (s < 127)) + np.count_nonzero((s == 9) | (s == 10) | (s == 13))
    high = np.count_nonzero(s >= 128)
    nlc = np.count_nonzero(s == 10)
    return nlc >= 1 and printable >= 0.7 * len(s) and printable + high >= 0.97 * len(s)


def analyze(data):
    """Pick a structure model for `data`; None when nothing pays."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("analyze expects bytes")
    data = bytes(data)
    n = len(data)
    if n < _MIN_INPUT:
        return None
    if _is_text(data):
        starts, ends, final_nl = _lines(data)
        if len(starts) < 8:
            return None
        res = _analyze_csv(data, starts, ends, final_nl)
        if res is None:
            res = _analyze_log(data, starts, ends, final_nl)
        return res
    return _analyze_records(data)


_RECON = {MODEL_LOG: _reconstruct_log, MODEL_CSV: _reconstruct_csv,
          MODEL_FIXED: _reconstruct_fixed, MODEL_VARREC: _reconstruct_varrec,
          MODEL_RECORDS: _reconstruct_records}


def reconstruct(model, params, streams, out_len):
    """Exact inverse of analyze. Raises ValueError on damaged or inconsistent input."""
    if not isinstance(out_len, int) or out_len < 0:
        raise ValueError(f"bad out_len {out_len!r}")
    fn = _RECON.get(model) if isinstance(model, int) else None
    if fn is None:
        raise ValueError(f"unknown structure model {model!r}")
    if not isinstance(params, (bytes, bytearray, memoryview)):
        raise ValueError("params must be bytes")
    try:
        streams = list(streams)
    except TypeError:
        raise ValueError("streams must be a list of payloads")
    try:
        out = fn(bytes(params), streams, out_len)
    except ValueError:
        raise
    except (IndexError, KeyError, OverflowError, TypeError, ZeroDivisionError, MemoryError) as e:
        raise ValueError(f"structure model {model}: damaged input ({type(e).__name__}: {e})") from None
    if len(out) != out_len:
        raise ValueError("structure model: output size mismatch")
    return out
