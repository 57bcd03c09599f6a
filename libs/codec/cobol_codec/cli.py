"""The `cobol` command: codec commands here; other packages add theirs through the `cobol.cli`
entry-point group (cobol_mesh: submit, status, fetch, jobs, ...), so the codec imports
nothing from them."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

from . import PROFILES, Dictionary, Writer, iter_decode, parse_layers, resolve_threads, train
from .profiles import frame_size_for
from .errors import CodecError

PROGRESS_MIN = 8 << 20
PLUGINS = "cobol.cli"      # entry points: callables that add sub-commands to the `cobol` parser


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal and the job is big."""

    def __init__(self, total: int | None, label: str):
        self.total, self.label, self.done = total, label, 0
        self.on = sys.stderr.isatty() and (total is None or total >= PROGRESS_MIN)
        self.t0 = self.last = time.monotonic()

    def __call__(self, n_in: int, _n_out: int = 0) -> None:
        self.done += n_in
        now = time.monotonic()
        if not self.on or now - self.last < 0.2:
            return
        self.last = now
        mbs = self.done / max(now - self.t0, 1e-9) / 1e6
        if self.total:
            pct = 100 * self.done / self.total
            bar = "#" * int(pct / 4)
            sys.stderr.write(f"\r{self.label} [{bar:<25}] {pct:5.1f}% {mbs:7.1f} MB/s")
        else:
            sys.stderr.write(f"\r{self.label} {self.done / 1e6:9.1f} MB {mbs:7.1f} MB/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\n")


def _open_in(path: str):
    if path == "-":
        return sys.stdin.buffer, None
    p = Path(path)
    if not p.is_file():
        raise CodecError(f"{path}: no such file")
    return open(p, "rb"), p.stat().st_size


class _Output:
    """Writes to a temp file beside the target and renames on success, so a failure leaves
    nothing behind; `-` is stdout."""

    def __init__(self, path: str, force: bool):
        self.path, self.tmp = path, None
        if path == "-":
            self.f = sys.stdout.buffer
            return
        target = Path(path)
        if target.exists() and not target.is_file():
            # A device or pipe (/dev/null, a FIFO): write to it, never rename over it.
            self.f = open(target, "wb")
            return
        if target.exists() and not force:
            raise CodecError(f"{path} already exists (use --force to overwrite)")
        fd, self.tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        self.f = os.fdopen(fd, "wb")

    def commit(self) -> None:
        if self.f is sys.stdout.buffer:
            self.f.flush()
            return
        self.f.close()
        if self.tmp:
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.f is not sys.stdout.buffer:
            self.f.close()
        if self.tmp:
            os.unlink(self.tmp)


def _load_dict(path: str | None) -> Dictionary | None:
    return Dictionary.load(path) if path else None


def _layers_arg(text: str) -> frozenset[int]:
    try:
        return parse_layers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_compress(args) -> int:
    src, size = _open_in(args.input)
    out_path = args.output or ("-" if args.input == "-" else args.input + ".cobol")
    out = _Output(out_path, args.force)
    progress = Progress(size, "compress")
    t0 = time.perf_counter()
    try:
        with Writer(out.f, args.profile, _load_dict(args.dict), threads=args.threads, on_frame=progress,
                    frame_size=frame_size_for(args.profile, size, resolve_threads(args.threads)), layers=args.layers) as w:
            while block := src.read(1 << 20):
                w.write(block)
        out.commit()
    except BaseException:
        out.abort()
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    report = w.stats.as_dict() | {"profile": args.profile, "seconds": round(seconds, 4),
                                  "allowed_layers": sorted(w.profile.layers), "threads": w.threads,
                                  "input": args.input, "output": out_path}
    if args.json:
        print(json.dumps(report), file=sys.stderr if out_path == "-" else sys.stdout)
    elif args.stats:
        _print_stats(report)
    return 0


def _print_stats(r: dict) -> None:
    err = sys.stderr
    ratio = r["ratio"] or 0
    print(f"{r['input']}: {r['bytes_in']} -> {r['bytes_out']} bytes, ratio {ratio:.3f}x, "
          f"{r['frames']} frames, {r['seconds']:.3f} s ({r['bytes_in'] / max(r['seconds'], 1e-9) / 1e6:.1f} MB/s)",
          file=err)
    print(f"  {'layer':<28} {'bytes in':>12} {'bytes out':>12} {'seconds':>9}", file=err)
    for row in r["layers"]:
        print(f"  {row['layer']:<28} {row['bytes_in']:>12} {row['bytes_out']:>12} {row['seconds']:>9.3f}", file=err)


def cmd_decompress(args) -> int:
    src, size = _open_in(args.input)
    if args.output:
        out_path = args.output
    elif args.input == "-":
        out_path = "-"
    elif args.input.endswith(".cobol"):
        out_path = args.input[: -len(".cobol")]
    else:
        raise CodecError("cannot guess the output name (input does not end in .cobol): give -o OUT")
    out = _Output(out_path, args.force)
    progress = Progress(size, "decompress")
    try:
        for block in iter_decode(src, _load_dict(args.dict), threads=args.threads):
            out.f.write(block)
            progress(len(block))
        out.commit()
    except BaseException:
        out.abort()
        raise
    finally:
        progress.close()
    return 0


def cmd_dict_train(args) -> int:
    samples = []
    for name in args.files:
        p = Path(name)
        if not p.is_file():
            raise CodecError(f"{name}: no such file")
        data = p.read_bytes()
        if args.split_lines:
            samples.extend(line for line in data.splitlines(keepends=True) if line)
        else:
            samples.extend(data[i:i + args.sample_size] for i in range(0, len(data), args.sample_size))
    d = train(samples, args.size)
    out = _Output(args.output, args.force)
    out.f.write(d.to_bytes())
    out.commit()
    print(f"dictionary {d.id:016x}: {len(d.content)} bytes from {len(samples)} samples -> {args.output}",
          file=sys.stderr)
    return 0


def cmd_dict_info(args) -> int:
    d = Dictionary.load(args.dict_file)
    print(json.dumps({"id": f"{d.id:016x}", "bytes": len(d.content)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cobol", description="Cobol Protocol: format-aware lossless compression.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("compress", help="compress a file into a .cobol container",
                       description="Compress IN (or - for stdin) into a container; default output IN.cobol.")
    c.add_argument("input", metavar="IN")
    c.add_argument("-o", "--output", metavar="OUT", help="output file, or - for stdout")
    c.add_argument("--profile", choices=PROFILES, default="balanced",
                   help="fast: structure (L2), delta/bit-packing, greedy matching, Huffman; balanced: "
                        "+ tokens (L1), RLE, lazy matching; max: context mixing (default balanced)")
    c.add_argument("--dict", metavar="DICT", help="a dictionary from `cobol dict train`")
    c.add_argument("--layers", type=_layers_arg, metavar="LIST",
                   help="only these layers may run, e.g. 1-4 (structure, delta, bit-packing: no "
                        "entropy stage, for speed) or 1,2,6-7 (default: every layer the profile uses)")
    c.add_argument("--threads", type=int, default=1,
                   help="frames compressed in parallel, 0 = one per core (default 1)")
    c.add_argument("--stats", action="store_true", help="print bytes in/out and time per layer")
    c.add_argument("--json", action="store_true", help="print the statistics as one JSON object")
    c.add_argument("-f", "--force", action="store_true", help="overwrite OUT if it exists")
    c.set_defaults(func=cmd_compress)

    d = sub.add_parser("decompress", help="restore the original bytes of a container",
                       description="Decompress IN (or -); default output is IN without .cobol.")
    d.add_argument("input", metavar="IN")
    d.add_argument("-o", "--output", metavar="OUT", help="output file, or - for stdout")
    d.add_argument("--dict", metavar="DICT", help="the dictionary the frames were compressed with")
    d.add_argument("--threads", type=int, default=1, help="frames decoded in parallel, 0 = one per core (default 1)")
    d.add_argument("-f", "--force", action="store_true", help="overwrite OUT if it exists")
    d.set_defaults(func=cmd_decompress)

    dc = sub.add_parser("dict", help="train and inspect dictionaries")
    dsub = dc.add_subparsers(dest="dict_command", required=True, metavar="ACTION")
    t = dsub.add_parser("train", help="learn a dictionary from sample files")
    t.add_argument("files", nargs="+", metavar="FILES")
    t.add_argument("-o", "--output", required=True, metavar="DICT")
    t.add_argument("--size", type=int, default=64 << 10, help="dictionary size in bytes (default 65536)")
    t.add_argument("--sample-size", type=int, default=4096, help="cut files into samples of this size")
    t.add_argument("--split-lines", action="store_true", help="use each line as a sample (for records)")
    t.add_argument("-f", "--force", action="store_true")
    t.set_defaults(func=cmd_dict_train)
    i = dsub.add_parser("info", help="print a dictionary's id and size")
    i.add_argument("dict_file", metavar="DICT")
    i.set_defaults(func=cmd_dict_info)

    for plugin in sorted(entry_points(group=PLUGINS), key=lambda ep: ep.name):
        plugin.load()(sub)          # installed but broken: the import error is not hidden
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", 1) < 0:
        print("cobol: --threads must be 0 (one per core) or a positive number", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except CodecError as exc:
        print(f"cobol: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
