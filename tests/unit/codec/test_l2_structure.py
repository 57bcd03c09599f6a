"""L2 structure models: exact round trips, model detection, pay-off, damaged input."""
import lzma
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobol_codec.codecs import structure as L2
from corpora import corpus_files, corpus_id

FILES = corpus_files()


def roundtrip(data):
    res = L2.analyze(data)
    if res is None:
        return None
    model, params, streams = res
    assert model in L2.MODELS
    assert isinstance(params, bytes)
    for kind, payload in streams:
        assert kind in ("bytes", "ints")
        assert isinstance(payload, bytes)
        if kind == "ints":
            assert len(payload) % 8 == 0
    out = L2.reconstruct(model, params, [p for _, p in streams], len(data))
    assert out == data
    return res


def xz(b):
    return len(lzma.compress(b, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])) if b else 0


def split_size(res):
    model, params, streams = res
    return len(params) + sum(xz(p) for _, p in streams)


@pytest.mark.parametrize("path", FILES, ids=map(corpus_id, FILES))
def test_corpus_roundtrip(path):
    with open(path, "rb") as fh:
        data = fh.read()
    roundtrip(data)


# ---------------------------------------------------------------- synthetic data

def synth_log(n=3000, seed=1, crlf=False, final_nl=True):
    rnd = random.Random(seed)
    t = 1_500_000_000
    lines = []
    for i in range(n):
        t += rnd.randint(0, 3)
        ms = rnd.randint(0, 999)
        k = rnd.random()
        hh, mm, ss = (t // 3600) % 24, (t // 60) % 60, t % 60
        head = f"2021-03-{1 + (t // 86400) % 28:02d} {hh:02d}:{mm:02d}:{ss:02d},{ms:03d} {rnd.choice(['INFO', 'WARN'])}"
        if k < 0.4:
            msg = f"[worker-{rnd.randint(1, 8)}] Received block blk_{rnd.getrandbits(60)} of size {rnd.randint(1, 1 << 26)} from /10.0.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}:{rnd.randint(1024, 65535)}"
        elif k < 0.7:
            msg = f"[main] session {rnd.getrandbits(64):016x} closed after {rnd.randint(0, 5000)} ms, user=u{rnd.randint(0, 99)}"
        elif k < 0.95:
            msg = f"[io] Flushed {rnd.randint(0, 100)} pages in {rnd.randint(0, 999)}.{rnd.randint(0, 99):02d} s"
        else:
            msg = "[gc] pause " + "é" * rnd.randint(0, 3) + " done"
        lines.append(head + " " + msg)
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if final_nl else "")
    return text.encode("utf-8")


def synth_csv(n=4000, seed=2):
    rnd = random.Random(seed)
    out = ["timestamp,value,count,label"]
    v = 50.0
    for i in range(n):
        v += rnd.uniform(-1, 1)
        secs = 1_400_000_000 + 300 * i
        y, mo, d, h, mi, s = __import__("time").gmtime(secs)[:6]
        out.append(f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d},{v:.3f},{rnd.randint(0, 40)},{rnd.choice(['ok', 'warn'])}")
    return ("\n".join(out) + "\n").encode()


def synth_fixed(nrec=400, reclen=137, seed=3):
    rnd = random.Random(seed)
    recs = []
    for i in range(nrec):
        name = rnd.choice(["ALPHA", "BRAVO", "CHARLIE", "DELTA"]).ljust(12).encode("cp037")
        amount = rnd.randint(0, 10 ** 7)
        packed = bytes.fromhex(f"{amount:09d}C")
        binary = (1000 + i).to_bytes(4, "big")
        zoned = f"{rnd.randint(0, 99999):05d}".encode("cp037")
        body = name + packed + binary + zoned
        recs.append(body + bytes([0x40]) * (reclen - len(body)))
    return b"".join(recs) + b"\x01\x02\x03"


def synth_rdw(nrec=600, seed=4):
    rnd = random.Random(seed)
    out = []
    for i in range(nrec):
        seg = rnd.choice([0, 1, 1])
        if seg == 0:
            body = b"\xf1" + "COMPANY".ljust(20).encode("cp037") + i.to_bytes(4, "big")
        else:
            body = b"\xf2" + f"{rnd.randint(0, 10**9):010d}".encode("cp037") + "CONTACT PERSON".ljust(30).encode("cp037")
        out.append((len(body) + 4).to_bytes(2, "big") + b"\x00\x00" + body)
    return b"".join(out)


def test_synthetic_log_model_and_gain():
    data = synth_log()
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_LOG
    kinds = [k for k, _ in res[2]]
    assert kinds[:4] == ["bytes", "ints", "bytes", "ints"] and "ints" in kinds[4:]
    assert split_size(res) < xz(data)


@pytest.mark.parametrize("crlf,final_nl", [(True, True), (True, False), (False, False)])
def test_synthetic_log_line_endings(crlf, final_nl):
    data = synth_log(800, seed=7, crlf=crlf, final_nl=final_nl)
    roundtrip(data)


def test_log_with_junk_lines():
    base = synth_log(1000, seed=5).split(b"\n")
    base[10] = b"\x00\x01binary\x02junk\xff\xfe 123"
    base[20] = b"\xe6\x97\xa5\xe6\x9c\xac 0042 x"
    base[30] = b"0" * 25 + b" 99999999999999999999999 -0 007"
    roundtrip(b"\n".join(base))


def test_synthetic_csv_model_and_gain():
    data = synth_csv()
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_CSV
    assert split_size(res) < xz(data)


def test_csv_odd_cells():
    lines = synth_csv(300).split(b"\n")
    lines[5] = b"2014-02-30 00:00:00,-0.0,007,x"          # impossible date, -0, leading zero
    lines[6] = b"2014-05-14 01:02:03,1e-05,,ok"
    lines[7] = b"short,row"
    lines[8] = b"2014-05-14T01:02:03,-12.,3,ok"
    lines[9] = b"2014-05-14 01:02:03,123456789012345678901,3,ok"
    lines[10] = b"2014-05-14 01:02:03,0.000000000000000001,3,ok"
    data = b"\n".join(lines)
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_CSV
    roundtrip(data.replace(b"\n", b"\r\n"))
    roundtrip(data.rstrip(b"\n"))


def test_synthetic_fixed_model_and_gain():
    data = synth_fixed()
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_RECORDS
    assert split_size(res) < xz(data)


def test_synthetic_rdw_model_and_gain():
    data = synth_rdw()
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_RECORDS
    assert [k for k, _ in res[2]] == ["ints", "bytes"]
    assert split_size(res) < xz(data)
    roundtrip(data + b"\x00\x40\x00")          # cut final record


def synth_segments(nrec=800, seed=5, lead=False):
    """Multi-segment records behind [optional varying byte] 00 00 <little-endian length>."""
    rnd = random.Random(seed)
    out = []
    for i in range(nrec):
        if rnd.random() < 0.3:
            body = b"\xc3" + f"{i:09d}".encode("cp037") + rnd.choice(["ACME CORP", "GLOBEX", "INITECH"]).ljust(40).encode("cp037")
        else:
            amount = rnd.randint(0, 10 ** 9)
            body = (b"\xd7" + f"{i:09d}".encode("cp037") + bytes.fromhex(f"{amount:011d}C")
                    + rnd.randint(0, 1 << 30).to_bytes(4, "big") + "JOHN SMITH".ljust(30).encode("cp037"))
        head = (bytes([rnd.choice([0, 1])]) if lead else b"") + b"\x00\x00" + len(body).to_bytes(2, "little")
        out.append(head + body)
    return b"".join(out)


@pytest.mark.parametrize("lead", [False, True])
def test_synthetic_segments_little_endian_header(lead):
    data = synth_segments(lead=lead)
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_RECORDS
    assert split_size(res) < 1.2 * xz(data)     # (interleaved sequence numbers favour raw order)
    roundtrip(data[:-7])
    roundtrip(b"\x00" + data)


def test_numeric_records_layout():
    rnd = random.Random(8)
    recs = []
    for i in range(200):
        s = "".join(rnd.choice("0123456789") for _ in range(40))
        rec = s.encode("cp037") + bytes.fromhex(s[:39] + "C") + s[:20].encode("cp037") + bytes.fromhex(s[:19] + "D")
        recs.append(rec + int(s[:9]).to_bytes(4, "big"))
    data = b"".join(recs)
    res = roundtrip(data)
    assert res is not None and res[0] == L2.MODEL_RECORDS
    assert split_size(res) < xz(data)


def test_random_bytes_have_no_structure():
    rnd = np.random.default_rng(3)
    data = rnd.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    assert L2.analyze(data) is None          # (its speed is make bench's to measure, not a test's)


def test_small_and_degenerate_inputs():
    for data in (b"", b"\n", b"a", b"\n" * 1000, b"x" * 100000, b"1\n" * 500, b"\r\n" * 300,
                 b"9" * 5000, bytes(range(256)) * 40, b"\x00" * 10000):
        roundtrip(data)


def test_one_huge_line():
    rnd = random.Random(9)
    line = " ".join(f"k{rnd.randint(0, 99)}={rnd.randint(0, 10 ** 6)}" for _ in range(60000)).encode()
    roundtrip(line)
    roundtrip(line + b"\n" + line + b"\n")


def test_ebcdic_bytes():
    text = ("CUSTOMER RECORD 000123 AMOUNT 0001234 " * 2000).encode("cp037")
    roundtrip(text)


def test_random_bytes():
    rnd = np.random.default_rng(1)
    roundtrip(rnd.integers(0, 256, 200000, dtype=np.uint8).tobytes())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=3000))
def test_hypothesis_binary(data):
    roundtrip(data)


_pieces = st.sampled_from([b"INFO", b"id", b"=", b" ", b"  ", b"\t", b",", b".", b":", b"-", b"\r", b"\n", b"\n",
                           b"\n", b"0", b"00", b"7", b"123", b"0x1f", b"abc123", b"a1b2", b"deadbeef99",
                           b"\xc3\xa9", b"\xff", b"\x00", b"\x01", b"2014-02-14 14:30:00", b"-3.50", b"12.",
                           b"99999999999999999999"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pieces, min_size=0, max_size=400), st.integers(1, 40))
def test_hypothesis_structured_text(pieces, reps):
    data = b"".join(pieces) * reps
    roundtrip(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["", "0", "-1", "2.5", "1e3", "x"])),
                min_size=10, max_size=200), st.sampled_from([",", "\t", ";", "|"]))
def test_hypothesis_csv(rows, delim):
    lines = [f"ts{delim}v{delim}w"]
    for a, b in rows:
        lines.append(f"2020-01-01 00:{a % 60:02d}:00{delim}{a / 7:.4f}{delim}{b}")
    roundtrip(("\n".join(lines)).encode())


# ---------------------------------------------------------------- damaged input

def _samples():
    return [synth_log(1000, seed=11), synth_csv(500), synth_fixed(), synth_rdw(),
            synth_segments(300, lead=True)]


def _expect_valueerror_or_bytes(model, params, payloads, n):
    try:
        out = L2.reconstruct(model, params, payloads, n)
    except ValueError:
        return
    assert isinstance(out, bytes) and len(out) == n


def test_damaged_inputs_raise_valueerror():
    rnd = random.Random(0)
    for data in _samples():
        model, params, streams = L2.analyze(data)
        payloads = [p for _, p in streams]
        n = len(data)
        with pytest.raises(ValueError):
            L2.reconstruct(99, params, payloads, n)
        with pytest.raises(ValueError):
            L2.reconstruct(model, params, payloads[:-1], n)
        with pytest.raises(ValueError):
            L2.reconstruct(model, params, payloads, n + 1)
        with pytest.raises(ValueError):
            L2.reconstruct(model, params[:-1], payloads, n)
        with pytest.raises(ValueError):
            L2.reconstruct(model, params, payloads, -1)
        for _ in range(150):
            ps = list(payloads)
            pr = params
            what = rnd.random()
            if what < 0.2 and pr:
                i = rnd.randrange(len(pr))
                pr = pr[:i] + bytes([rnd.randrange(256)]) + pr[i + 1:]
            else:
                k = rnd.randrange(len(ps))
                b = bytearray(ps[k])
                op = rnd.random()
                if op < 0.4 and b:
                    i = rnd.randrange(len(b))
                    b[i] = rnd.randrange(256)
                elif op < 0.6:
                    b = b[: rnd.randrange(len(b) + 1)]
                elif op < 0.8:
                    b += bytes(rnd.randrange(256) for _ in range(rnd.choice([1, 8, 16])))
                elif len(b) >= 8:
                    i = rnd.randrange(len(b) // 8) * 8
                    b[i:i + 8] = rnd.choice([2 ** 63 - 1, -2 ** 63, -1, 10 ** 18, 1 << 40]).to_bytes(8, "little", signed=True)
                ps[k] = bytes(b)
            _expect_valueerror_or_bytes(model, pr, ps, n)
