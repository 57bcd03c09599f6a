"""Writer.write cuts frames straight from the caller's buffer: any split of the same bytes
into writes, of any buffer type, gives the same container."""
import io
import random

import pytest

from cobol_codec import Writer, decompress


def container(writes, frame_size, threads=1):
    out = io.BytesIO()
    with Writer(out, "fast", frame_size=frame_size, threads=threads) as w:
        for piece in writes:
            assert w.write(piece) == memoryview(piece).nbytes      # bytes taken, as io writes return
    return out.getvalue()


@pytest.mark.parametrize("seed", range(4))
def test_any_split_into_writes_gives_the_same_container(seed):
    rnd = random.Random(seed)
    data = b"".join(b"%d,sensor-%d,%d\n" % (i, i % 7, rnd.randrange(999)) for i in range(20000))
    frame_size = rnd.choice([1000, 4096, 65536])
    whole = container([data], frame_size)
    cuts = sorted(rnd.sample(range(1, len(data)), 40))
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    kinds = [bytes, bytearray, memoryview]
    pieces = [kinds[i % 3](p) for i, p in enumerate(pieces)] + [b""]
    assert container(pieces, frame_size) == whole
    assert container(pieces, frame_size, threads=2) == whole
    assert decompress(whole) == data


def test_writes_of_exact_frames_and_a_short_tail():
    data = bytes(range(256)) * 100
    blob = container([data[:4096], data[4096:8192], data[8192:8193], data[8193:]], 4096)
    assert blob == container([data], 4096)
    assert decompress(blob) == data


def test_a_memoryview_of_wider_items_is_written_as_its_bytes():
    import array
    ints = array.array("q", range(5000))
    assert decompress(container([memoryview(ints)], 8192)) == ints.tobytes()
