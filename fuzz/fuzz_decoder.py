"""`make fuzz`: coverage-guided fuzzing (atheris / libFuzzer) of the container decoder.

Any exception other than CodecError is a finding; so is a crash, a hang (libFuzzer's
-timeout) or an allocation over -rss_limit_mb. Seeds are real containers of every profile,
with and without the fuzzer's dictionary (frames of records up to 4 KiB decode on a primed
context-mixing snapshot), with all layers and with `--layers 1-4`, plus the golden
containers of every format version; written to the corpus folder when it has no seeds yet.
"""
import os
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import cobol_codec
    from cobol_codec import CodecError, Dictionary


DICT = Dictionary(b"2024-01-01 12:00:00 INFO start id=" * 20)
GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "unit" / "codec" / "golden"


# Seeds carry the encoder's payload generation in their names, so a corpus folder kept from an
# older encoder gets seeds of the new payloads too (the L7 v2 coders 4 and 5 since session 16).
SEED_GENERATION = "l7v2"


def _seed(corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if any(p.name.startswith(f"seed-{SEED_GENERATION}-") for p in corpus.iterdir()):
        return
    samples = [b"", b"a", b"2024-01-01 12:00:00 INFO start id=42\n" * 50,
               b"2024-01-01 12:00:07 INFO start id=%d\n" % 4242,
               b"ts,value\n" + b"".join(b"%d,%d.5\n" % (1000 + i, i % 9) for i in range(300)),
               os.urandom(2000), bytes(5000)]
    for i, data in enumerate(samples):
        for profile in cobol_codec.PROFILES:
            for tag, d, layers in (("", None, None), ("-dict", DICT, None), ("-l1-4", None, "1-4")):
                (corpus / f"seed-{SEED_GENERATION}-{i}-{profile}{tag}").write_bytes(cobol_codec.compress(data, profile, d, layers=layers))
    for golden in sorted(GOLDEN.glob("v*/*.cobol")):
        (corpus / f"seed-{SEED_GENERATION}-golden-{golden.parent.name}-{golden.name}").write_bytes(golden.read_bytes())


def test_one_input(data: bytes) -> None:
    for d in (None, DICT):
        try:
            cobol_codec.decompress(data, d)
        except CodecError:
            pass


if __name__ == "__main__":
    corpus_dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
    for c in corpus_dirs:
        _seed(Path(c))
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
