"""The log model's nogil passes (line scan, column layout, width modes): the same result as
the Python algorithm they replaced, refusal of damaged params, and frames coded on several
threads at once equal to the same frames coded on one."""
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cobol_codec import encode_frame
from cobol_codec.codecs import structure as L2
from cobol_codec.codecs.structure import logs
from cobol_codec.frame import decode_frame, parse_header
from corpora import corpus_files

PH_NUM, PH_STR = 1, 2


def reference_layout(templates, tcounts, minnum, minstr):
    """The Python layout the C pass replaced (columns keyed by (previous column, text since it))."""
    colid, kind, count, slotcol, soff = {}, [], [], [], [0] * (len(templates) + 2)
    for t, tb in enumerate(templates, 1):
        soff[t] = len(slotcol)
        prev, last = -1, 0
        for p, ch in enumerate(tb):
            if ch not in (PH_NUM, PH_STR):
                continue
            key = (prev, tb[last:p + 1])
            c = colid.setdefault(key, len(kind))
            if c == len(kind):
                kind.append(ch)
                count.append(0)
            count[c] += int(tcounts[t])
            slotcol.append(c)
            prev, last = c, p + 1
    soff[-1] = len(slotcol)
    stream, nnum, nstr = [0] * max(len(kind), 1), 0, 0
    for c, k in enumerate(kind):
        if k == PH_NUM and count[c] >= minnum:
            stream[c], nnum = nnum, nnum + 1
        elif k == PH_STR and count[c] >= minstr:
            stream[c], nstr = nstr, nstr + 1
    for c, k in enumerate(kind):
        if (k == PH_NUM and count[c] < minnum) or (k == PH_STR and count[c] < minstr):
            stream[c] = nnum if k == PH_NUM else nstr
    return slotcol, soff, kind + [0], stream, nnum + 1, nstr + 1, count + [0]


def random_templates(rnd, n):
    pieces = [b"ts=", b" id ", b"GET /", b":", b" ", b"user", b"\x01", b"\x02", b"x"]
    return [b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 12))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_layout_equals_the_python_algorithm(seed):
    rnd = random.Random(seed)
    templates = random_templates(rnd, rnd.choice([1, 40, 3000]))     # 3000: the hash table grows
    tcounts = np.array([0] + [rnd.randrange(1, 400) for _ in templates], np.int64)
    tdict = b"\n".join(templates)
    got = logs._log_layout(tdict, logs._template_offsets(tdict, len(templates)), tcounts, 48, 256)
    want = reference_layout(templates, tcounts, 48, 256)
    for g, w in zip(got, want):
        assert np.array_equal(np.asarray(g), np.asarray(w))


def test_scan_keeps_first_appearance_order_and_grows_its_tables():
    # 5000 lines, 2400 distinct templates: past the scan's first table and buffer sizes
    lines = [b"k%s=%d v%d" % (b"a" * (1 + i % 2400), i, i * 7) for i in range(5000)]
    data = b"\n".join(lines) + b"\n"
    starts, ends, _ = L2._lines(data)
    tids, tdict, toff, vk, vv, vs, vl = logs._log_scan(data, starts, ends, 10 ** 6)
    templates = tdict.split(b"\n")
    assert len(templates) == len(toff) - 1 == 2400
    assert templates[0] == b"ka=\x01 v\x01" and tids[0] == 1 and tids[1] == 2
    assert all(templates[tids[i] - 1] == templates[tids[i + 2400] - 1] for i in range(2400))
    assert vv[:2].tolist() == [0, 0] and vv[2:4].tolist() == [1, 7]
    assert logs._log_scan(data, starts, ends, 2399) is None           # too many templates: no model


def test_many_templates_round_trip():
    rnd = random.Random(3)
    words = [bytes(rnd.choice(b"abcdefghij") for _ in range(6)) for _ in range(1500)]
    lines = [b"ev%s %d took %d" % (words[i % 1500], i, rnd.randrange(1000)) for i in range(6000)]
    data = b"\n".join(lines)
    res = L2.analyze(data)
    assert res is not None and res[0] == L2.MODEL_LOG
    assert L2.reconstruct(res[0], res[1], [p for _, p in res[2]], len(data)) == data


def test_damaged_width_modes_are_refused():
    data = b"".join(b"2026-01-%02d id=%05d took %d ms\n" % (1 + i % 28, i, i % 13) for i in range(400))
    model, params, streams = L2.analyze(data)
    payloads = [p for _, p in streams]
    assert L2.reconstruct(model, params, payloads, len(data)) == data
    for cut in range(1, 4):
        with pytest.raises(ValueError):
            L2.reconstruct(model, params[:-cut], payloads, len(data))
    with pytest.raises(ValueError):                                     # a mode above 2
        L2.reconstruct(model, params[:-1] + b"\x03", payloads, len(data))
    with pytest.raises(ValueError):
        logs._col_modes_get(b"\x01\x15", 0, np.array([PH_NUM], np.int64), 1)   # width 21
    assert [a.tolist() for a in logs._col_modes_get(b"\x01\x14\x02", 0, np.array([PH_NUM, PH_STR, PH_NUM], np.int64),
                                                    3)[:2]] == [[1, 0, 2, 0], [20, 0, 0, 0]]


def test_template_dictionary_must_hold_the_declared_count():
    with pytest.raises(ValueError):
        logs._template_offsets(b"a\nb", 3)
    with pytest.raises(ValueError):
        logs._template_offsets(b"a", 0)
    assert logs._template_offsets(b"ab\n\nc", 3).tolist() == [0, 3, 4, 6]


@pytest.mark.parametrize("profile", ["fast", "balanced"])
def test_frames_coded_on_threads_at_once_equal_one_thread(profile):
    logs_ = [p.read_bytes() for p in corpus_files("loghub")][:4]
    slices = [d[k:k + (96 << 10)] for d in logs_ for k in (0, len(d) // 2)]
    one = [encode_frame(s, profile) for s in slices]
    with ThreadPoolExecutor(4) as pool:
        many = list(pool.map(lambda s: encode_frame(s, profile), slices * 2))
        assert many == one * 2

        def decode(blob):
            h = parse_header(blob)
            return decode_frame(h, blob[h.size:])
        assert list(pool.map(decode, one * 2)) == slices * 2


@pytest.mark.parametrize("seed", range(4))
def test_group_by_equals_a_stable_argsort(seed):
    rng = np.random.default_rng(seed)
    nkeys = int(rng.integers(1, 50))
    keys = rng.integers(0, nkeys, int(rng.integers(0, 5000))).astype(np.int64)
    idx = np.sort(rng.choice(100000, len(keys), replace=False)).astype(np.int64)
    order, bounds = logs._group_by(keys, idx, nkeys)
    assert order.tolist() == idx[np.argsort(keys, kind="stable")].tolist()
    assert bounds.tolist() == np.searchsorted(np.sort(keys), np.arange(nkeys + 1)).tolist()
    with pytest.raises(ValueError):
        logs._group_by(np.array([0, nkeys], np.int64), np.array([1, 2], np.int64), nkeys)


def test_column_length_ranges_count_numbers_only():
    vcol = np.array([0, 1, 0, 1, 2], np.int64)
    vl = np.array([3, 7, 5, 2, 9], np.int64)
    vk = np.array([PH_NUM, PH_NUM, PH_NUM, PH_STR, PH_STR], np.int64)
    lo, hi = logs._col_len_range(vcol, vl, vk, 3)
    assert lo.tolist() == [3, 7, 1 << 30, 1 << 30] and hi.tolist() == [5, 7, 0, 0]
