# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""L1: generic text tokenization, used when no L2 structure model matches.

split_tokens(data) -> (params, streams) or None
join_tokens(params, payloads, out_len) -> bytes

Streams (in order):
  0 "bytes" skeleton: the text with every word replaced by 0x01 and every number by 0x02
  1 "bytes" words: letter runs (and digit runs that need their leading zeros), each + b"\\n"
  2 "ints"  numbers: canonical digit runs (no leading zero, at most 18 digits)
Declines on binary data, on data holding bytes 0x00-0x02, and when the split does not
look cheaper than the raw text (quick zlib estimate).
"""
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memchr
import zlib
import numpy as np

from cobol_codec.codecs.common cimport corrupt

_VERSION = 1
_MIN_INPUT = 256


cdef inline bint _isdig(uint8_t c) noexcept nogil:
    return 48 <= c <= 57

cdef inline bint _isalpha(uint8_t c) noexcept nogil:
    c |= 32
    return 97 <= c <= 122


def _scan(const uint8_t[::1] d):
    cdef Py_ssize_t n = d.shape[0], i = 0, j, k, sk = 0, wp = 0, nn = 0
    cdef uint64_t v
    cdef uint8_t c
    skel = bytearray(n)
    words = bytearray(n + n // 2 + 1)
    nums_a = np.empty(n // 2 + 1, np.int64)
    cdef uint8_t[::1] s = skel
    cdef uint8_t[::1] w = words
    cdef int64_t[::1] nums = nums_a
    cdef int bad = 0
    with nogil:
        while i < n:
            c = d[i]
            if c < 3:
                bad = 1
                break
            if _isalpha(c):
                j = i
                while j < n and _isalpha(d[j]):
                    j += 1
                memcpy(&w[wp], &d[i], j - i); wp += j - i
                w[wp] = 10; wp += 1
                s[sk] = 1; sk += 1
                i = j
            elif _isdig(c):
                j = i
                while j < n and _isdig(d[j]):
                    j += 1
                if (j - i == 1 or c != 48) and j - i <= 18:
                    v = 0
                    for k in range(i, j):
                        v = v * 10 + (d[k] - 48)
                    nums[nn] = <int64_t>v; nn += 1
                    s[sk] = 2; sk += 1
                else:
                    memcpy(&w[wp], &d[i], j - i); wp += j - i
                    w[wp] = 10; wp += 1
                    s[sk] = 1; sk += 1
                i = j
            else:
                s[sk] = c; sk += 1
                i += 1
    if bad:
        return None
    return bytes(skel[:sk]), bytes(words[:wp]), nums_a[:nn].astype("<i8").tobytes()


def split_tokens(data):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("split_tokens expects bytes")
    data = bytes(data)
    n = len(data)
    if n < _MIN_INPUT:
        return None
    smp = np.frombuffer(data[:1 << 16], np.uint8)
    text = np.count_nonzero(((smp >= 32) & (smp < 127)) | (smp == 9) | (smp == 10) | (smp == 13) | (smp >= 128))
    if text < 0.97 * len(smp):
        return None
    res = _scan(data)
    if res is None:
        return None
    skel, words, nums = res
    # quick pay-off estimate on a prefix-sized budget
    lim = 1 << 18
    raw = len(zlib.compress(data[:lim], 6))
    frac = min(1.0, lim / n)
    split = (len(zlib.compress(skel[:int(len(skel) * frac) + 1], 6)) +
             len(zlib.compress(words[:int(len(words) * frac) + 1], 6)) +
             len(zlib.compress(nums[:(int(len(nums) * frac) // 8 + 1) * 8], 6)))
    if split > 0.97 * raw:
        return None
    return bytes([_VERSION]), [("bytes", skel), ("bytes", words), ("ints", nums)]


def join_tokens(params, streams, out_len):
    if not isinstance(out_len, int) or out_len < 0:
        raise corrupt("L1 tokens", f"bad out_len {out_len!r}")
    if not isinstance(params, (bytes, bytearray, memoryview)) or bytes(params) != bytes([_VERSION]):
        raise corrupt("L1 tokens", "bad params")
    try:
        streams = list(streams)
    except TypeError:
        raise corrupt("L1 tokens", "streams must be a list")
    if len(streams) != 3 or not all(isinstance(x, (bytes, bytearray, memoryview)) for x in streams):
        raise corrupt("L1 tokens", "expected 3 byte payloads")
    skel = bytes(streams[0]); words = bytes(streams[1]); numsb = bytes(streams[2])
    if len(numsb) % 8:
        raise corrupt("L1 tokens", "numbers stream length not a multiple of 8")
    if len(skel) > out_len:
        raise corrupt("L1 tokens", "skeleton longer than output")
    nums_a = np.frombuffer(numsb, "<i8").astype(np.int64)
    return _join(skel, words, nums_a, out_len)


def _join(const uint8_t[::1] s, const uint8_t[::1] w, int64_t[::1] nums, Py_ssize_t out_len):
    out = bytearray(out_len)
    cdef uint8_t dummy[1]
    cdef uint8_t* o = dummy
    if out_len:
        o = <uint8_t*>(<char*>out)
    cdef Py_ssize_t pos = 0, i, wp = 0, nn = 0, nw = w.shape[0], nnum = nums.shape[0], L, k, t
    cdef const void* q
    cdef uint8_t c
    cdef uint8_t tmp[24]
    cdef int64_t v
    cdef int err = 0
    with nogil:
        for i in range(s.shape[0]):
            c = s[i]
            if c == 1:
                if wp >= nw:
                    err = 2; break
                q = memchr(&w[wp], 10, nw - wp)
                if q == NULL:
                    err = 2; break
                L = <const uint8_t*>q - &w[wp]
                if pos + L > out_len:
                    err = 1; break
                memcpy(o + pos, &w[wp], L)
                pos += L
                wp += L + 1
            elif c == 2:
                if nn >= nnum:
                    err = 2; break
                v = nums[nn]; nn += 1
                if v < 0:
                    err = 3; break
                k = 0
                while True:
                    tmp[k] = 48 + <uint8_t>(v % 10); v //= 10; k += 1
                    if v == 0:
                        break
                if pos + k > out_len:
                    err = 1; break
                for t in range(k):
                    o[pos + t] = tmp[k - 1 - t]
                pos += k
            else:
                if pos >= out_len:
                    err = 1; break
                o[pos] = c; pos += 1
    if err == 1:
        raise corrupt("L1 tokens", "output exceeds expected size")
    if err == 2:
        raise corrupt("L1 tokens", "word or number stream truncated")
    if err == 3:
        raise corrupt("L1 tokens", "negative number")
    if pos != out_len or wp != nw or nn != nnum:
        raise corrupt("L1 tokens", "streams and output size disagree")
    return bytes(out)
