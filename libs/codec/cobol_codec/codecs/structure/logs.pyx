# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L2 model 1, line templates (logs, JSON lines): a template dictionary, a template id per
line, numeric variables as int columns, alphanumeric ids as strings, exceptions verbatim.
See spec.md."""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr, memcmp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free, calloc, realloc
from libc.math cimport log2

import zlib
import numpy as np

from cobol_codec.codecs.structure.shared import _VERSION, _Reader, _as_bytes, _i64, _ints_from
from cobol_codec.codecs.common cimport get_varint, put_varint
from cobol_codec.codecs.structure.chars cimport PH_NUM, PH_STR, _copy_term, _isalnum, _isalpha, _isdig, _ishex, _put
from cobol_codec.codecs.structure.shared import MODEL_LOG

# =========================================================================== LOG model


_MIN_NUM_COL = 48
_MIN_STR_COL = 256


cdef inline uint64_t _hash_bytes(const uint8_t* p, Py_ssize_t n, uint64_t seed) noexcept nogil:
    """FNV-1a over n bytes, then a final mix (table slots take the low bits)."""
    cdef uint64_t h = 14695981039346656037ULL ^ seed
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * 1099511628211ULL
    h ^= h >> 29
    h *= 0xbf58476d1ce4e5b9ULL
    return h ^ (h >> 32)


cdef struct _Vars:
    int64_t* k
    int64_t* v
    int64_t* s
    int64_t* l
    Py_ssize_t cap


cdef int _vars_grow(_Vars* vr, Py_ssize_t cap) noexcept nogil:
    cdef void* q
    cdef int i
    cdef int64_t** arrs[4]
    arrs[0] = &vr.k; arrs[1] = &vr.v; arrs[2] = &vr.s; arrs[3] = &vr.l
    for i in range(4):
        q = realloc(arrs[i][0], cap * sizeof(int64_t))
        if q == NULL:
            return -1
        arrs[i][0] = <int64_t*>q
    vr.cap = cap
    return 0


cdef struct _Templates:
    uint8_t* buf          # every template followed by a '\n' (the template dictionary)
    Py_ssize_t len, cap
    int64_t* off          # off[t] .. off[t + 1] - 1: template t + 1's bytes
    Py_ssize_t n, ocap
    int64_t* tab          # open addressing: template index + 1, 0 = empty
    uint64_t tmask


cdef int64_t _tpl_find_or_add(_Templates* ts, const uint8_t* tb, Py_ssize_t tl) noexcept nogil:
    """The 1-based id of template tb[:tl], added if new; -1 when memory runs out."""
    cdef uint64_t h = _hash_bytes(tb, tl, 0), j, size
    cdef int64_t t, a
    cdef Py_ssize_t i
    cdef void* q
    j = h & ts.tmask
    while ts.tab[j]:
        t = ts.tab[j] - 1
        a = ts.off[t]
        if ts.off[t + 1] - 1 - a == tl and memcmp(ts.buf + a, tb, tl) == 0:
            return t + 1
        j = (j + 1) & ts.tmask
    if ts.len + tl + 1 > ts.cap:
        q = realloc(ts.buf, 2 * ts.cap + tl + 1)
        if q == NULL:
            return -1
        ts.buf = <uint8_t*>q
        ts.cap = 2 * ts.cap + tl + 1
    if ts.n + 2 > ts.ocap:
        q = realloc(ts.off, 2 * ts.ocap * sizeof(int64_t))
        if q == NULL:
            return -1
        ts.off = <int64_t*>q
        ts.ocap *= 2
    memcpy(ts.buf + ts.len, tb, tl)
    ts.buf[ts.len + tl] = 10
    ts.len += tl + 1
    ts.n += 1
    ts.off[ts.n] = ts.len
    ts.tab[j] = ts.n
    if 2 * <uint64_t>ts.n > ts.tmask:          # keep the table at most half full
        size = 2 * (ts.tmask + 1)
        q = calloc(size, sizeof(int64_t))
        if q == NULL:
            return -1
        free(ts.tab)
        ts.tab = <int64_t*>q
        ts.tmask = size - 1
        for i in range(ts.n):
            j = _hash_bytes(ts.buf + ts.off[i], ts.off[i + 1] - 1 - ts.off[i], 0) & ts.tmask
            while ts.tab[j]:
                j = (j + 1) & ts.tmask
            ts.tab[j] = i + 1
    return ts.n


def _log_scan(const uint8_t[::1] d, int64_t[::1] ls, int64_t[::1] le, Py_ssize_t max_templates):
    """Tokenize every line in one nogil pass; returns (tids, template dictionary (templates
    joined by '\n'), template offsets, vk, vv, vs, vl), or None as soon as there are more
    than max_templates templates (the model cannot pay then)."""
    cdef Py_ssize_t nl = ls.shape[0], li, i, j, a, b, L, nd, nruns, split, k, tl
    cdef Py_ssize_t nv = 0, saved, maxlen = 1, ds, dl
    cdef bint allhex, dg, prevdg, bad
    cdef uint64_t val
    cdef uint8_t c
    cdef int err = 0
    cdef int64_t t
    cdef _Vars vr
    cdef _Templates ts
    for li in range(nl):
        if le[li] - ls[li] > maxlen:
            maxlen = le[li] - ls[li]
    tids_a = np.zeros(nl, np.int64)
    cdef int64_t[::1] tids = tids_a
    vr.k = vr.v = vr.s = vr.l = NULL
    ts.buf = <uint8_t*>malloc(4096)
    ts.len = 0; ts.cap = 4096
    ts.off = <int64_t*>malloc(256 * sizeof(int64_t))
    ts.n = 0; ts.ocap = 256
    ts.tab = <int64_t*>calloc(1024, sizeof(int64_t))
    ts.tmask = 1023
    cdef uint8_t* tb = <uint8_t*>malloc(maxlen + 1)
    try:
        if tb == NULL or ts.buf == NULL or ts.off == NULL or ts.tab == NULL \
                or _vars_grow(&vr, 1024 + d.shape[0] // 8):
            raise MemoryError()
        ts.off[0] = 0
        with nogil:
            for li in range(nl):
                a = ls[li]; b = le[li]
                if nv + (b - a) + 2 > vr.cap and _vars_grow(&vr, 2 * vr.cap + (b - a) + 2):
                    err = -1
                    break
                saved = nv
                tl = 0
                bad = False
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
                        vr.s[nv] = ds; vr.l[nv] = dl
                        if dl <= 18:
                            vr.k[nv] = PH_NUM; vr.v[nv] = <int64_t>val
                            tb[tl] = PH_NUM
                        else:
                            vr.k[nv] = PH_STR; vr.v[nv] = 0
                            tb[tl] = PH_STR
                        tl += 1; nv += 1
                        if nd != L and _isdig(d[i]):
                            memcpy(tb + tl, &d[split], j - split); tl += j - split
                    else:
                        vr.k[nv] = PH_STR; vr.v[nv] = 0; vr.s[nv] = i; vr.l[nv] = L
                        nv += 1
                        tb[tl] = PH_STR; tl += 1
                    i = j
                if bad:
                    nv = saved
                    tids[li] = 0
                    continue
                t = _tpl_find_or_add(&ts, tb, tl)
                if t < 0:
                    err = -1
                    break
                if ts.n > max_templates:
                    err = 1
                    break
                tids[li] = t
        if err < 0:
            raise MemoryError()
        if err:
            return None
        toff_a = np.empty(ts.n + 1, np.int64)
        vk_a = np.empty(nv, np.int64); vv_a = np.empty(nv, np.int64)
        vs_a = np.empty(nv, np.int64); vl_a = np.empty(nv, np.int64)
        _fill_i64(toff_a, ts.off, ts.n + 1)
        _fill_i64(vk_a, vr.k, nv); _fill_i64(vv_a, vr.v, nv)
        _fill_i64(vs_a, vr.s, nv); _fill_i64(vl_a, vr.l, nv)
        tdict = PyBytes_FromStringAndSize(<char*>ts.buf, ts.len - 1 if ts.len else 0)
    finally:
        free(tb); free(ts.buf); free(ts.off); free(ts.tab)
        free(vr.k); free(vr.v); free(vr.s); free(vr.l)
    return tids_a, tdict, toff_a, vk_a, vv_a, vs_a, vl_a


cdef void _fill_i64(int64_t[::1] dst, int64_t* src, Py_ssize_t n):
    if n:
        memcpy(&dst[0], src, n * sizeof(int64_t))


def _template_offsets(tdict, Py_ssize_t T):
    """Offsets of the T templates in a template dictionary (templates joined by '\n'), as
    _log_scan returns them; ValueError when the dictionary does not hold T templates."""
    if T == 0:
        if tdict:
            raise ValueError("log model: template count mismatch")
        return np.zeros(1, np.int64)
    nlpos = np.flatnonzero(np.frombuffer(tdict, np.uint8) == 10)
    if len(nlpos) != T - 1:
        raise ValueError("log model: template count mismatch")
    toff = np.empty(T + 1, np.int64)
    toff[0] = 0
    toff[1:T] = nlpos + 1
    toff[T] = len(tdict) + 1
    return toff


def _log_layout(const uint8_t[::1] tbuf, int64_t[::1] toff, int64_t[::1] tcounts, int64_t minnum, int64_t minstr):
    """Shared by encoder and decoder: map (template, slot) -> column -> stream, in one nogil
    pass over the template dictionary (template t is tbuf[toff[t-1]:toff[t]-1]).

    A column is identified by the template text up to and including the placeholder,
    so the leading fields common to many templates (timestamps, pids) share a column:
    columns are numbered in order of first appearance of the key (previous column, text
    since the previous placeholder up to and including this one)."""
    cdef Py_ssize_t T = toff.shape[0] - 1, nb = tbuf.shape[0], nph = 0, i, p, last, t, ncol = 0, nslot = 0
    cdef const uint8_t* tv
    cdef uint8_t dummy = 0
    cdef int64_t prev, c, cnt, nnum = 0, nstr = 0
    cdef uint64_t h, j, tmask
    cdef int64_t* tab
    cdef int64_t* kprev
    cdef int64_t* koff
    cdef int64_t* klen
    tv = &tbuf[0] if nb else &dummy
    if tcounts.shape[0] < T + 1 or (T and toff[T] - 1 > nb):
        raise ValueError("log model: layout does not match the templates")
    with nogil:
        for i in range(nb):
            if tv[i] == PH_NUM or tv[i] == PH_STR:
                nph += 1
    tmask = 1
    while tmask < <uint64_t>(2 * nph + 2):
        tmask <<= 1
    tmask -= 1
    slotcol_a = np.empty(nph, np.int64)
    soff_a = np.zeros(T + 2, np.int64)
    kind_a = np.zeros(nph + 1, np.int64)
    count_a = np.zeros(nph + 1, np.int64)
    colstream_a = np.zeros(max(nph, 1), np.int64)
    cdef int64_t[::1] slotcol = slotcol_a, soff = soff_a, kind = kind_a, count = count_a, colstream = colstream_a
    tab = <int64_t*>calloc(tmask + 1, sizeof(int64_t))
    kprev = <int64_t*>malloc((nph + 1) * sizeof(int64_t))
    koff = <int64_t*>malloc((nph + 1) * sizeof(int64_t))
    klen = <int64_t*>malloc((nph + 1) * sizeof(int64_t))
    try:
        if tab == NULL or kprev == NULL or koff == NULL or klen == NULL:
            raise MemoryError()
        with nogil:
            for t in range(1, T + 1):
                soff[t] = nslot
                prev = -1
                last = toff[t - 1]
                cnt = tcounts[t]
                for p in range(toff[t - 1], toff[t] - 1):
                    if tv[p] != PH_NUM and tv[p] != PH_STR:
                        continue
                    h = _hash_bytes(tv + last, p + 1 - last, <uint64_t>prev)
                    j = h & tmask
                    c = -1
                    while tab[j]:
                        c = tab[j] - 1
                        if kprev[c] == prev and klen[c] == p + 1 - last and \
                                memcmp(tv + koff[c], tv + last, p + 1 - last) == 0:
                            break
                        c = -1
                        j = (j + 1) & tmask
                    if c < 0:
                        c = ncol
                        ncol += 1
                        tab[j] = ncol
                        kprev[c] = prev; koff[c] = last; klen[c] = p + 1 - last
                        kind[c] = tv[p]
                    count[c] += cnt
                    slotcol[nslot] = c
                    nslot += 1
                    prev = c
                    last = p + 1
            soff[T + 1] = nslot
            for c in range(ncol):
                if kind[c] == PH_NUM and count[c] >= minnum:
                    colstream[c] = nnum; nnum += 1
                elif kind[c] == PH_STR and count[c] >= minstr:
                    colstream[c] = nstr; nstr += 1
            for c in range(ncol):
                if kind[c] == PH_NUM and count[c] < minnum:
                    colstream[c] = nnum
                elif kind[c] == PH_STR and count[c] < minstr:
                    colstream[c] = nstr
    finally:
        free(tab); free(kprev); free(koff); free(klen)
    return (slotcol_a, soff_a, kind_a[:ncol + 1].copy(), colstream_a[:max(ncol, 1)].copy(), nnum + 1, nstr + 1,
            count_a[:ncol + 1].copy())


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


def _col_modes_put(bytearray params, int64_t[::1] col_kind, int64_t[::1] mode, int64_t[::1] width, Py_ssize_t ncol):
    """Appends each numeric column's width mode (and fixed width) to the params: one C loop
    (a log frame can have thousands of columns)."""
    cdef Py_ssize_t c, k = 0
    cdef uint8_t* o
    buf = bytearray(20 * ncol + 1)
    o = <uint8_t*>(<char*>buf)
    with nogil:
        for c in range(ncol):
            if col_kind[c] == PH_NUM:
                k = put_varint(o, k, <uint64_t>mode[c])
                if mode[c] == 1:
                    k = put_varint(o, k, <uint64_t>width[c])
    params += buf[:k]


def _col_modes_get(const uint8_t[::1] params, Py_ssize_t pos, int64_t[::1] col_kind, Py_ssize_t ncol):
    """Inverse of _col_modes_put from params[pos:]: (modes, widths, position after them);
    ValueError for a truncated list, a mode above 2 or a width above 20."""
    colmode = np.zeros(ncol + 1, np.int64)
    colwidth = np.zeros(ncol + 1, np.int64)
    cdef int64_t[::1] m = colmode, w = colwidth
    cdef Py_ssize_t c, n = params.shape[0]
    cdef uint64_t v
    cdef int err = 0
    cdef uint8_t dummy = 0
    cdef const uint8_t* p = &params[0] if n else &dummy
    if col_kind.shape[0] < ncol:
        raise ValueError("log model: column count mismatch")
    with nogil:
        for c in range(ncol):
            if col_kind[c] != PH_NUM:
                continue
            pos = get_varint(p, n, pos, &v)
            if pos < 0 or v > 2:
                err = 1
                break
            m[c] = <int64_t>v
            if v == 1:
                pos = get_varint(p, n, pos, &v)
                if pos < 0 or v > 20:
                    err = 1
                    break
                w[c] = <int64_t>v
    if err:
        raise ValueError("log model: column width modes are damaged")
    return colmode, colwidth, pos


def _group_by(int64_t[::1] keys, int64_t[::1] idx, Py_ssize_t nkeys):
    """Stable counting sort of idx by keys (each in [0, nkeys)): (idx ordered by key, the start
    of each key's run, nkeys + 1 of them); the same as a stable argsort, in one nogil pass."""
    cdef Py_ssize_t n = keys.shape[0], i, k
    cdef int bad = 0
    order_a = np.empty(n, np.int64)
    bounds_a = np.zeros(nkeys + 1, np.int64)
    cdef int64_t[::1] order = order_a, bounds = bounds_a
    cdef int64_t* pos = <int64_t*>calloc(nkeys + 1, sizeof(int64_t))
    if pos == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                k = keys[i]
                if k < 0 or k >= nkeys:
                    bad = 1
                    break
                pos[k + 1] += 1
            if not bad:
                for k in range(nkeys):
                    pos[k + 1] += pos[k]
                for k in range(nkeys + 1):
                    bounds[k] = pos[k]
                for i in range(n):
                    k = keys[i]
                    order[pos[k]] = idx[i]
                    pos[k] += 1
    finally:
        free(pos)
    if bad:
        raise ValueError("log model: internal: stream id out of range")
    return order_a, bounds_a


def _col_len_range(int64_t[::1] vcol, int64_t[::1] vl, int64_t[::1] vk, Py_ssize_t ncol):
    """Shortest and longest spelling of each numeric column's values (1 << 30 and 0 where it
    has none)."""
    minlen_a = np.full(ncol + 1, 1 << 30, np.int64)
    maxlen_a = np.zeros(ncol + 1, np.int64)
    cdef int64_t[::1] mn = minlen_a, mx = maxlen_a
    cdef Py_ssize_t i, c
    with nogil:
        for i in range(vcol.shape[0]):
            if vk[i] != PH_NUM:
                continue
            c = vcol[i]
            if vl[i] < mn[c]:
                mn[c] = vl[i]
            if vl[i] > mx[c]:
                mx[c] = vl[i]
    return minlen_a, maxlen_a


def _analyze_log(data, starts, ends, final_nl):
    cdef const uint8_t[::1] d = data
    n = len(data)
    scan = _log_scan(d, starts, ends, max(64, len(starts) // 2))
    if scan is None:
        return None
    tids, tdict_bytes, toff, vk, vv, vs, vl = scan
    T = len(toff) - 1
    nl = len(tids)
    if len(tdict_bytes) > n // 2:
        return None
    tcounts = np.bincount(tids, minlength=T + 1)
    slotcol, soff, col_kind, colstream, nnum, nstr, col_count = _log_layout(
        tdict_bytes, toff, tcounts, _MIN_NUM_COL, _MIN_STR_COL)
    ncol = len(col_kind) - 1
    vcol = _var_columns(tids, slotcol, soff, len(vk))
    isnum = vk == PH_NUM
    darr = np.frombuffer(data, np.uint8)
    # width modes per numeric column
    lz = isnum & (vl > 1) & (darr[np.minimum(vs, n - 1)] == 48) if len(vk) else np.zeros(0, bool)
    has_lz = np.bincount(vcol[lz], minlength=ncol + 1) > 0 if len(vk) else np.zeros(ncol + 1, bool)
    minlen, maxlen = _col_len_range(vcol, vl, vk, ncol)
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
    _col_modes_put(params, col_kind, mode, width, ncol)
    # exceptions
    exc_idx = np.flatnonzero(tids == 0)
    exc = _gather(d, starts, ends - starts, exc_idx)
    vmode = mode[vcol] if len(vk) else np.zeros(0, np.int64)
    widths = vl[isnum & (vmode == 2)]
    streams = [("bytes", tdict_bytes), ("ints", _i64(tids)), ("bytes", exc), ("ints", _i64(widths))]
    sid = colstream[vcol] if len(vk) else np.zeros(0, np.int64)
    num_idx = np.flatnonzero(isnum)
    order, bounds = _group_by(np.ascontiguousarray(sid[num_idx]), num_idx, nnum)
    vals_sorted = vv[order]
    for s in range(nnum):
        streams.append(("ints", _i64(vals_sorted[bounds[s]:bounds[s + 1]])))
    str_idx = np.flatnonzero(~isnum)
    order, bounds = _group_by(np.ascontiguousarray(sid[str_idx]), str_idx, nstr)
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


def _log_rebuild(int64_t[::1] tids, const uint8_t[::1] tbuf, int64_t[::1] toff,
                 int64_t[::1] slotcol, int64_t[::1] soff, int64_t[::1] col_kind,
                 int64_t[::1] colstream, int64_t[::1] colmode, int64_t[::1] colwidth,
                 int64_t[::1] numvals, int64_t[::1] numcur, int64_t[::1] numend,
                 const uint8_t[::1] strbuf, int64_t[::1] strcur, int64_t[::1] strend,
                 int64_t[::1] widths, const uint8_t[::1] exc, int final_nl, Py_ssize_t out_len):
    # written in place: a fresh bytes object nobody else sees yet (no copy at the end)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, out_len)
    cdef uint8_t* o = NULL
    cdef uint8_t dummy[1]
    o = dummy
    if out_len:
        o = <uint8_t*>PyBytes_AS_STRING(out)
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
    return out


def _reconstruct_log(params, streams, out_len):
    r = _Reader(params)
    if r.varint() != _VERSION:
        raise ValueError("log model: bad version")
    final_nl = r.varint(1)
    nl = r.varint(out_len + 1)
    T = r.varint(out_len + 1)
    minnum = r.varint(1 << 30)
    minstr = r.varint(1 << 30)
    ncol = r.varint(out_len + 1)
    if len(streams) < 4:
        raise ValueError("log model: missing streams")
    tdict = _as_bytes(streams[0], "templates")
    if len(tdict) > out_len + T:
        raise ValueError("log model: template dictionary too large")
    toff = _template_offsets(tdict, T)
    tids = _ints_from(streams[1], "template ids", out_len + 1)
    if len(tids) != nl:
        raise ValueError("log model: line count mismatch")
    if nl and (tids.min() < 0 or tids.max() > T):
        raise ValueError("log model: template id out of range")
    tcounts = np.bincount(tids, minlength=T + 1)
    slotcol, soff, col_kind, colstream, nnum, nstr, col_count = _log_layout(tdict, toff, tcounts, minnum, minstr)
    if len(col_kind) - 1 != ncol:
        raise ValueError("log model: column count mismatch")
    colmode, colwidth, r.pos = _col_modes_get(r.buf, r.pos, col_kind, ncol)
    r.end()
    if len(streams) != 4 + nnum + nstr:
        raise ValueError("log model: wrong number of streams")
    exc = _as_bytes(streams[2], "exceptions")
    widths = _ints_from(streams[3], "widths", out_len + 1)
    nums = [_as_bytes(streams[4 + k], "numbers") for k in range(nnum)]
    numcnt = np.array([len(x) for x in nums], np.int64)
    if np.any(numcnt % 8) or numcnt.sum() > 8 * (out_len + 1) * max(nnum, 1):
        raise ValueError("numbers: ints streams are malformed or too long")
    numcnt //= 8
    numend = np.cumsum(numcnt)
    numcur = numend - numcnt
    numvals = np.frombuffer(b"".join(nums), dtype="<i8").astype(np.int64)     # one copy for every column
    strs = [_as_bytes(streams[4 + nnum + k], "strings") for k in range(nstr)]
    strlen = np.array([len(x) for x in strs], np.int64)
    strend = np.cumsum(strlen)
    strcur = strend - strlen
    strbuf = b"".join(strs)
    return _log_rebuild(np.ascontiguousarray(tids), tdict, toff, slotcol, soff, col_kind, colstream,
                        colmode, colwidth, numvals, numcur, numend, strbuf, strcur, strend,
                        np.ascontiguousarray(widths), exc, final_nl, out_len)
