"""python -m services.compressor (COBOL_INSTANCE=compressor-N)."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_mesh import metrics, service
from cobol_mesh.lifecycle import run_thread

from .dictionaries import Dictionaries
from .worker import Compressor


def main() -> None:
    lc = service.boot("compressor")
    dicts = Dictionaries(lc.instance, lc.stopping)
    metrics.on_scrape(lambda: metrics.dictionary_samples(dicts.state))
    worker = Compressor(lc.instance, lc.stopping, dicts)
    threads = [run_thread("compressor", worker.run, lc), run_thread("dictionaries", dicts.run, lc)]
    lc.ready()
    lc.wait(threads)


if __name__ == "__main__":
    main()
