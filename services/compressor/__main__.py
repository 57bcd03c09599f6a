"""python -m services.compressor (COBOL_INSTANCE=compressor-N)."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_mesh import service
from cobol_mesh.lifecycle import run_thread

from .worker import Compressor


def main() -> None:
    lc = service.boot("compressor")
    worker = Compressor(lc.instance, lc.stopping)
    thread = run_thread("compressor", worker.run, lc)
    lc.ready()
    lc.wait([thread])


if __name__ == "__main__":
    main()
