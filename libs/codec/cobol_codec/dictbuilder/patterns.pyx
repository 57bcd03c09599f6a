# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Dictionary training (as zstd's dictBuilder): learns the recurring substrings of sample
records, laid out so the most valuable sit nearest the data that follows the dictionary
(L6 matches reach back into it; context mixing is primed with it).

    train_patterns(samples, size) -> bytes
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING


cdef bytes _as_bytes(obj, str what):
    if isinstance(obj, bytes):
        return <bytes>obj
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    raise TypeError(f"{what} must be bytes-like, not {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# Dictionary training
# ---------------------------------------------------------------------------------------------
#
# 1. Cut the samples into documents (a sample, or 4 KiB pieces of a long one) and count, for
#    every hashed d-gram, the number of documents it occurs in (its document frequency).  A
#    d-gram found in one document only is worth nothing to the next record.
# 2. Split the sample text into epochs; in each, slide a window of k d-gram starts and score it
#    by the summed frequency of the distinct d-grams inside (a count table tracks distinctness).
#    The best window, trimmed of worthless ends, becomes a pattern; its d-grams' frequencies
#    drop to zero so later patterns cover new material.  Epochs are visited round-robin until
#    the patterns would overfill the dictionary.
# 3. Patterns are laid out by ascending score: the most valuable sit at the end of the
#    dictionary, i.e. at the smallest offsets from the data that follows it.

DEF FHLOG = 22


cdef inline uint32_t _hash_d(const uint8_t* p, int d) noexcept nogil:
    cdef uint64_t v = 0
    memcpy(&v, p, d)
    v = v * <uint64_t>0x9E3779B97F4A7C15
    return <uint32_t>(v >> (64 - FHLOG))


cdef Py_ssize_t _best_window(const uint32_t* hs, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t k,
                             const uint32_t* freq, uint16_t* cnt, Py_ssize_t* best_start,
                             uint64_t* best_score) noexcept nogil:
    """Best window of k d-gram starts in [lo, hi); returns its length (<= k)."""
    cdef Py_ssize_t i, start = lo, blen = 0
    cdef uint64_t score = 0, top = 0
    cdef uint32_t h
    for i in range(lo, hi):
        h = hs[i]
        if cnt[h] == 0:
            score += freq[h]
        cnt[h] += 1
        if i - lo >= k:
            h = hs[i - k]
            cnt[h] -= 1
            if cnt[h] == 0:
                score -= freq[h]
        if score > top:
            top = score
            start = i - k + 1 if i - lo >= k else lo
            blen = i - start + 1
    # clear the count table
    i = hi - k if hi - k > lo else lo
    while i < hi:
        cnt[hs[i]] = 0
        i += 1
    best_start[0] = start
    best_score[0] = top
    return blen


def _train(bytes text, list doc_ends, Py_ssize_t size, int d, Py_ssize_t k):
    """Patterns (start, end, score) chosen from text; doc_ends are the document boundaries."""
    cdef Py_ssize_t n = len(text), i, j, ndocs = len(doc_ends), doc_start, doc_end, nep, ep
    cdef Py_ssize_t lo, hi, bs, bl, total = 0, a, b, epoch_len, passes
    cdef uint64_t score
    cdef const uint8_t* t = <const uint8_t*>PyBytes_AS_STRING(text)
    cdef uint32_t nb = (<uint32_t>1 << FHLOG)
    cdef uint32_t INVALID = nb        # a bucket whose frequency is always 0
    cdef uint32_t* hs = <uint32_t*>malloc((n + 1) * sizeof(uint32_t))
    cdef uint32_t* freq = <uint32_t*>calloc(nb + 1, sizeof(uint32_t))
    cdef uint32_t* seen = <uint32_t*>calloc(nb + 1, sizeof(uint32_t))
    cdef uint16_t* cnt = <uint16_t*>calloc(nb + 1, sizeof(uint16_t))
    cdef uint32_t h
    patterns = []
    try:
        if hs == NULL or freq == NULL or seen == NULL or cnt == NULL:
            raise MemoryError()
        # 1. document frequencies
        doc_start = 0
        for j in range(ndocs):
            doc_end = doc_ends[j]
            with nogil:
                for i in range(doc_start, doc_end):
                    if i + d <= doc_end:
                        h = _hash_d(t + i, d)
                        hs[i] = h
                        if seen[h] != <uint32_t>(j + 1):
                            seen[h] = <uint32_t>(j + 1)
                            freq[h] += 1
                    else:
                        hs[i] = INVALID
            doc_start = doc_end
        with nogil:
            for i in range(nb):
                if freq[i] < 2:
                    freq[i] = 0
                else:
                    freq[i] -= 1
        # 2. epochs
        nep = size // k
        if nep < 1:
            nep = 1
        if nep > n // (2 * k):
            nep = n // (2 * k) if n // (2 * k) > 0 else 1
        epoch_len = n // nep
        passes = 0
        while total < size and passes < 64:
            progress = False
            for ep in range(nep):
                if total >= size:
                    break
                lo = ep * epoch_len
                hi = n if ep == nep - 1 else lo + epoch_len
                with nogil:
                    bl = _best_window(hs, lo, hi, k, freq, cnt, &bs, &score)
                if score == 0 or bl == 0:
                    continue
                a = bs
                b = bs + bl       # d-gram starts [a, b)
                while a < b and freq[hs[a]] == 0:
                    a += 1
                while b > a and freq[hs[b - 1]] == 0:
                    b -= 1
                if a >= b:
                    continue
                with nogil:
                    for i in range(a, b):
                        freq[hs[i]] = 0
                end = b - 1 + d
                if end > n:
                    end = n
                patterns.append((a, end, score))
                total += end - a
                progress = True
            passes += 1
            if not progress:
                break
    finally:
        free(hs)
        free(freq)
        free(seen)
        free(cnt)
    return patterns


def train_patterns(samples, size, *, int d=0, Py_ssize_t k=0):
    """Dictionary content (at most `size` bytes) of the most valuable recurring substrings of
    the samples, most valuable last.  Deterministic for a given input.  d (gram length) and
    k (pattern length) are chosen from the sample sizes unless given."""
    cdef Py_ssize_t limit = int(size)
    if limit <= 0:
        return b""
    docs = []
    for s in samples:
        s = _as_bytes(s, "sample")
        if not s:
            continue
        if len(s) <= 8192:
            docs.append(s)
        else:
            for i in range(0, len(s), 4096):
                docs.append(s[i:i + 4096])
    if not docs:
        return b""
    # bound the work: keep an evenly spaced subset of documents
    cap = max(limit * 200, 8 << 20)
    total = sum(len(x) for x in docs)
    if total > cap:
        stride = total / cap
        keep = []
        acc = 0.0
        for i, x in enumerate(docs):
            if i >= acc:
                keep.append(x)
                acc += stride
        docs = keep
    lens = sorted(len(x) for x in docs)
    median = lens[len(lens) // 2]
    if d <= 0:
        d = 8
    d = min(max(d, 4), 8)
    if k <= 0:
        k = 192 if median < 512 else 256
    k = min(k, max(16, limit))
    text = b"".join(docs)
    ends = []
    acc_i = 0
    for x in docs:
        acc_i += len(x)
        ends.append(acc_i)
    if len(text) < d:
        return b""
    patterns = _train(text, ends, limit, d, k)
    if not patterns:
        return b""
    # most valuable last; ties broken by position for determinism
    patterns.sort(key=lambda p: (p[2], -p[0]))
    out = []
    room = limit
    for a, end, score in reversed(patterns):
        seg = text[a:end]
        if len(seg) > room:
            if room >= 16:
                out.append(seg[len(seg) - room:])
                room = 0
            break
        out.append(seg)
        room -= len(seg)
        if room == 0:
            break
    out.reverse()
    return b"".join(out)
