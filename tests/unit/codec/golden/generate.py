"""Writes the golden containers: small generated inputs of varied kinds, compressed by every
profile with and without a dictionary, plus a manifest of what each container holds.

Run once per container format version; the files it wrote are committed and must keep
decoding byte-exact (tests/unit/codec/test_golden.py). Never regenerate them to make a test
pass: a new format version gets its own folder beside the old one.

    .venv/bin/python tests/unit/codec/golden/generate.py tests/unit/codec/golden/v1
"""
from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import sys
from pathlib import Path

import cobol_codec
from cobol_codec import Dictionary, Writer, train


def log_lines(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    t = 1_700_000_000
    out = []
    for i in range(n):
        t += rnd.randint(0, 3)
        h, m, s = (t // 3600) % 24, (t // 60) % 60, t % 60
        kind = rnd.random()
        if kind < 0.5:
            line = f"2024-03-{1 + t % 28:02d} {h:02d}:{m:02d}:{s:02d},{rnd.randint(0, 999):03d} INFO  [worker-{rnd.randint(1, 8)}] request id=req{rnd.randint(0, 99999):05x} took {rnd.randint(1, 900)} ms"
        elif kind < 0.8:
            line = f"2024-03-{1 + t % 28:02d} {h:02d}:{m:02d}:{s:02d},{rnd.randint(0, 999):03d} WARN  [disk] /dev/sd{'abc'[rnd.randint(0, 2)]} usage {rnd.randint(50, 99)}% free {rnd.randint(1, 4096)} MiB"
        else:
            line = f"2024-03-{1 + t % 28:02d} {h:02d}:{m:02d}:{s:02d},{rnd.randint(0, 999):03d} ERROR [db] connection to 10.0.{rnd.randint(0, 9)}.{rnd.randint(1, 254)}:5432 refused (attempt {i % 5})"
        out.append(line)
    return ("\n".join(out) + "\n").encode()


def csv_table(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    rows = ["timestamp,sensor,temperature,humidity,status"]
    t = 1_700_000_000
    for _ in range(n):
        t += 60
        rows.append(f"2024-03-01T{(t // 3600) % 24:02d}:{(t // 60) % 60:02d}:00Z,s{rnd.randint(1, 6)},"
                    f"{rnd.uniform(15, 30):.2f},{rnd.randint(20, 80)},{rnd.choice(['ok', 'ok', 'ok', 'drift'])}")
    return ("\r\n".join(rows) + "\r\n").encode()


def json_lines(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    return b"".join(json.dumps({"ts": 1_700_000_000 + 7 * i, "user": f"u{rnd.randint(1, 40)}",
                                "action": rnd.choice(["login", "view", "buy", "logout"]),
                                "amount": round(rnd.uniform(0, 500), 2)}).encode() + b"\n" for i in range(n))


def ebcdic_records(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(n):
        name = f"CUSTOMER {rnd.randint(0, 999):03d}".ljust(20).encode("cp037")
        zoned = f"{rnd.randint(0, 99999):05d}".encode("cp037")
        amount = rnd.randint(0, 9_999_999)
        packed = bytes.fromhex(f"{amount:07d}C")
        out += struct.pack(">I", 1000 + i) + name + zoned + packed + b"\x40" * 7
    return bytes(out)


def prose(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    words = ("the of and to in is was that for on with as by at from his her it an were which "
             "machine record order invoice 1987 42 system data stream frame compression").split()
    lines = []
    for _ in range(n):
        lines.append(" ".join(rnd.choice(words) for _ in range(rnd.randint(6, 14))).capitalize() + ".")
    return ("\n".join(lines) + "\n").encode()


def varrec(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(n):
        body = f"REC{i:06d}|{rnd.choice(['A', 'B', 'C'])}|{rnd.randint(0, 10 ** rnd.randint(1, 8))}".encode("cp037")
        out += struct.pack(">HH", len(body) + 4, 0) + body
    return bytes(out)


def syslog(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    msgs = ["session opened for user {u} by (uid=0)", "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
            "Connection closed by {ip} port {p} [preauth]", "Accepted publickey for {u} from {ip} port {p} ssh2",
            "Received disconnect from {ip}: 11: Bye Bye", "pam_unix(cron:session): session closed for user {u}"]
    out = []
    for i in range(n):
        ip = f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        msg = rnd.choice(msgs).format(u=rnd.choice(["root", "alice", "bob", "www-data"]), ip=ip, p=rnd.randint(1024, 65535))
        out.append(f"Jun {14 + i // 50} 15:{i % 60:02d}:{(i * 7) % 60:02d} host{rnd.randint(1, 3)} sshd[{19000 + rnd.randint(0, 999)}]: {msg}")
    return ("\n".join(out) + "\n").encode()


def number_line(seed: int, n: int) -> bytes:
    rnd = random.Random(seed)
    v = 10_000
    out = []
    for _ in range(n):
        v += rnd.randint(1, 9)
        out.append(str(v))
    per = -(-n // 4)            # four long lines: too few for L2, L1 cuts out the numbers
    return b"".join(b"values=" + ",".join(out[i:i + per]).encode() + b"\n" for i in range(0, n, per))


INPUTS = {
    "syslog": lambda: syslog(8, 120),
    "numbers": lambda: number_line(10, 1500),
    "log": lambda: log_lines(1, 120),
    "csv": lambda: csv_table(2, 120),
    "json": lambda: json_lines(3, 60),
    "ebcdic": lambda: ebcdic_records(4, 100),
    "varrec": lambda: varrec(5, 150),
    "prose": lambda: prose(6, 60),
    "noise": lambda: random.Random(7).randbytes(5000),
    "zeros": lambda: bytes(3000),
    "tiny": lambda: b"a",
    "empty": lambda: b"",
}


def main(out_dir: str) -> None:
    out = Path(out_dir)
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    d = train([log_lines(100 + i, 20) for i in range(40)] + [csv_table(200 + i, 20) for i in range(20)], 4096)
    (out / "dict.cbdc").write_bytes(d.to_bytes())
    manifest = []
    for name, make in INPUTS.items():
        data = make()
        (out / "inputs" / name).write_bytes(data)
        for profile in cobol_codec.PROFILES:
            for dictionary in (None, d):
                fname = f"{name}-{profile}{'-dict' if dictionary else ''}.cobol"
                blob = cobol_codec.compress(data, profile, dictionary)
                assert cobol_codec.decompress(blob, dictionary) == data
                (out / fname).write_bytes(blob)
                manifest.append({"file": fname, "input": name, "profile": profile, "dict": dictionary is not None,
                                 "sha256": hashlib.sha256(data).hexdigest()})
    # one multi-frame container with an index (frames of 2 KiB), for the index and frame walk
    data = log_lines(9, 200)
    buf = io.BytesIO()
    with Writer(buf, "fast", frame_size=2048) as w:
        w.write(data)
    (out / "inputs" / "log-long").write_bytes(data)
    (out / "log-long-fast-frames.cobol").write_bytes(buf.getvalue())
    manifest.append({"file": "log-long-fast-frames.cobol", "input": "log-long", "profile": "fast", "dict": False,
                     "sha256": hashlib.sha256(data).hexdigest()})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
