"""Streaming writer/reader: many frames, parallel decode, random access, bounded memory."""
from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest

from cobol_codec import Writer, compress, decompress, iter_decode, read_index, read_range
from corpora import ROOT

DATA = b"".join(b"sensor-%03d,%d,%d.%02d\n" % (i % 50, 1_700_000_000 + i, 20 + i % 9, i % 100) for i in range(200_000))


def test_many_small_frames_and_parallel_decode():
    out = io.BytesIO()
    with Writer(out, "fast", frame_size=64 << 10, threads=2) as w:
        for i in range(0, len(DATA), 10_000):
            w.write(DATA[i:i + 10_000])
    blob = out.getvalue()
    assert len(read_index(io.BytesIO(blob))) == -(-len(DATA) // (64 << 10))
    assert b"".join(iter_decode(io.BytesIO(blob), threads=2)) == DATA
    assert decompress(blob) == DATA


def test_random_access_decodes_only_the_range():
    out = io.BytesIO()
    with Writer(out, "fast", frame_size=32 << 10) as w:
        w.write(DATA)
    f = io.BytesIO(out.getvalue())
    for start, length in [(0, 10), (12345, 70000), (len(DATA) - 5, 100), (len(DATA), 10)]:
        assert read_range(f, start, length) == DATA[start:start + length]


def test_container_without_index_is_a_stream_of_frames():
    from cobol_codec import FILE_HEADER, encode_frame
    blob = FILE_HEADER + encode_frame(DATA[:1000]) + encode_frame(DATA[1000:5000], "max")
    assert decompress(blob) == DATA[:5000]


def test_large_stream_in_bounded_memory(tmp_path):
    """256 MiB through `cobol compress -` and back: peak RSS stays far below the input size."""
    script = textwrap.dedent("""
        import os, sys, hashlib
        block = b"".join(b"%08d host-%d GET /api/v1/items/%d 200 %d\\n" % (i, i % 7, i % 1000, i % 50) for i in range(40000))
        h = hashlib.sha256()
        total = 0
        while total < (256 << 20):
            chunk = block[: (256 << 20) - total]
            h.update(chunk); sys.stdout.buffer.write(chunk); total += len(chunk)
        sys.stderr.write(h.hexdigest())
    """)
    packed = tmp_path / "big.cobol"
    gen = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    measure = [sys.executable, "-c",
               "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"]
    comp = subprocess.run([*measure, sys.executable, "-m", "cobol_codec.cli", "compress", "-", "-o", str(packed),
                           "--profile", "fast"], stdin=gen.stdout, capture_output=True, cwd=ROOT)
    gen.stdout.close()
    digest = gen.stderr.read().decode()
    assert gen.wait() == 0 and comp.returncode == 0, comp.stderr
    peak_mb = int(comp.stderr.split()[-1]) / 1024
    assert peak_mb < 400, f"compress peaked at {peak_mb:.0f} MB for a 256 MiB stream"
    dec = subprocess.run([*measure, "bash", "-c",
                          f"{sys.executable} -m cobol_codec.cli decompress {packed} -o - | sha256sum"],
                         capture_output=True, cwd=ROOT)
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout.split()[0].decode() == digest
    assert int(dec.stderr.split()[-1]) / 1024 < 400


def test_writer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown profile"):
        Writer(io.BytesIO(), "turbo")
    with pytest.raises(ValueError, match="frame size"):
        Writer(io.BytesIO(), "fast", frame_size=1 << 40)
    assert decompress(compress(b"")) == b""
