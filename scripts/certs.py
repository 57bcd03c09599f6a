#!/usr/bin/env python3
"""A local certificate authority and one certificate per mesh identity, for gRPC mTLS.

    scripts/certs.py [--dir DIR] [--force]

Writes DIR/ca.crt (+ ca.key) and DIR/<identity>.crt/.key for every service of topology.yaml
and for `client` (tools and people: it proves nothing but "holds a mesh certificate"; such a
caller must still present a bearer token or API key). DIR defaults to $COBOL_CERT_DIR or
.data/certs. Keys are written 0600. Idempotent: valid certificates signed by the current CA
are kept; `--force` makes new ones (and a new CA). The certificates themselves are made by
cobol_mesh.certs, which the Kubernetes operator uses for its per-cluster Secret.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh")]

from cobol_mesh import certs, topology  # noqa: E402


def identities() -> list[str]:
    return [*topology.load().services, "client"]


def _write(path: Path, data: bytes, private: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_dir(d: Path, force: bool = False) -> list[str]:
    """Make or refresh the files in d; returns the names made anew ("ca" for the CA)."""
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    have = {p.name: p.read_bytes() for p in d.iterdir() if p.suffix in (".crt", ".key") and p.is_file()}
    files, made = certs.bundle(identities(), have, force=force)
    for name, data in files.items():
        if have.get(name) != data:
            _write(d / name, data, private=name.endswith(".key"))
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=None, help="where to write (default $COBOL_CERT_DIR or .data/certs)")
    p.add_argument("--force", action="store_true", help="make a new CA and new certificates")
    args = p.parse_args(argv)
    d = args.dir or Path(os.environ.get("COBOL_CERT_DIR") or ROOT / ".data" / "certs")
    made = write_dir(d, args.force)
    leaves = [m for m in made if m != "ca"]
    print(f"certs: {d}: CA {'created' if 'ca' in made else 'kept'}; "
          f"{'new: ' + ', '.join(leaves) if leaves else 'every certificate valid'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
