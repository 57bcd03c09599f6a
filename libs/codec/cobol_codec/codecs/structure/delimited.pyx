# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L2 model 2, delimited columns (CSV, TSV, ...): timestamps as epoch seconds, decimals as
scaled ints with a per-cell format code, text columns, row and cell exceptions. See spec.md."""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport malloc, free, qsort
from libc.math cimport log2

import zlib
import numpy as np

from cobol_codec.codecs.structure.shared import _VERSION, _Reader, _as_bytes, _i64, _ints_from
from cobol_codec.codecs.structure.chars cimport PH_NUM, PH_STR, _copy_term, _isalnum, _isalpha, _isdig, _ishex, _put
from cobol_codec.codecs.structure.shared import MODEL_CSV
from cobol_codec.codecs.structure.logs import _gather

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


cdef int _cmp_i64(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const int64_t*>a)[0], y = (<const int64_t*>b)[0]
    return (x > y) - (x < y)


def _csv_detect(const uint8_t[::1] d, int64_t[::1] starts, int64_t[::1] ends):
    """(delimiter, columns) or None. For each candidate delimiter, the most common count per
    line (the smallest on a tie) over the first 400 lines (not a last, unterminated one)
    must be 1..255 and hold on >= 90% of them; the most regular delimiter wins (then the
    most columns, then the earlier candidate). One C pass: this runs on every text frame."""
    cdef Py_ssize_t nl = starts.shape[0], m = min(nl, 400), L, r, i, j, run, top
    cdef int64_t cnt[4][400]
    cdef int64_t k, best_k = 0, best_c = 0
    cdef int c, best = -1
    cdef uint8_t ch
    if m < 8:
        return None
    L = m - (1 if m == nl else 0)
    with nogil:
        for r in range(L):
            cnt[0][r] = cnt[1][r] = cnt[2][r] = cnt[3][r] = 0
            for i in range(starts[r], ends[r]):
                ch = d[i]
                if ch == 44:
                    cnt[0][r] += 1
                elif ch == 9:
                    cnt[1][r] += 1
                elif ch == 59:
                    cnt[2][r] += 1
                elif ch == 124:
                    cnt[3][r] += 1
        for c in range(4):
            qsort(cnt[c], L, sizeof(int64_t), _cmp_i64)
            top = 0
            k = 0
            i = 0
            while i < L:                      # the longest run of equal counts, first on a tie
                j = i
                while j < L and cnt[c][j] == cnt[c][i]:
                    j += 1
                if j - i > top:
                    top = j - i
                    k = cnt[c][i]
                i = j
            if 1 <= k < 256 and <double>top / L >= 0.9:
                if best < 0 or top > best_c or (top == best_c and k > best_k):
                    best, best_c, best_k = c, top, k
    if best < 0:
        return None
    return b",\t;|"[best], <int>best_k + 1


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


def _csv_types(const uint8_t[::1] d, int64_t[::1] starts, int64_t[::1] ends, int delim, int ncols, int crlf):
    """Pick a type and scale per column from a sample of rows (rows with the wrong number of
    cells are skipped). The counting is one C pass: it runs on every delimited frame."""
    cdef Py_ssize_t m = min(starts.shape[0], 2000), r, c, a, b, i, cs, k
    cdef int64_t v, rv
    cdef int code, tot = 0
    if ncols > 256:
        raise ValueError("too many columns")
    nts_a = np.zeros(ncols, np.int64)
    nnum_a = np.zeros(ncols, np.int64)
    maxs = np.zeros(ncols, np.int64)
    hist_a = np.zeros((ncols, 20), np.int64)
    cdef int64_t[::1] nts = nts_a
    cdef int64_t[::1] nnum = nnum_a
    cdef int64_t[:, ::1] hist = hist_a
    with nogil:
        for r in range(m):
            a = starts[r]
            b = ends[r]
            if crlf and b > a and d[b - 1] == 13:
                b -= 1
            k = 1
            for i in range(a, b):
                if d[i] == delim:
                    k += 1
            if k != ncols:
                continue
            tot += 1
            c = 0
            cs = a
            for i in range(a, b + 1):
                if i < b and d[i] != delim:
                    continue
                if i > cs:
                    if _parse_ts(&d[cs], i - cs, &v):
                        nts[c] += 1
                    code = _parse_dec(&d[cs], i - cs, -1, &v, &rv)
                    if code:
                        nnum[c] += 1
                        hist[c, code - 2 if code > 2 else 0] += 1
                c += 1
                cs = i + 1
    ctype = np.zeros(ncols, np.int64)
    if tot == 0:
        return ctype, maxs, 0
    for c in range(ncols):
        cum = np.cumsum(hist_a[c])
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
    if r.varint() != _VERSION:
        raise ValueError("csv model: bad version")
    final_nl = r.varint(1)
    crlf = r.varint(1)
    delim = r.varint(255)
    ncols = r.varint(256)
    nl = r.varint(out_len + 1)
    if ncols < 1:
        raise ValueError("csv model: no columns")
    ctype = np.zeros(ncols, np.int64)
    cscale = np.zeros(ncols, np.int64)
    for c in range(ncols):
        ctype[c] = r.varint(2)
        if ctype[c] == CT_NUM:
            cscale[c] = r.varint(18)
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
