"""Process lifecycle: clean shutdown on SIGTERM/SIGINT, and the readiness file.

A service creates one `Lifecycle`, starts its loops, calls `ready()` once it can do its job
(mesh.py waits for `.run/<instance>.ready`), and loops while `not lc.stopping.is_set()`. On a
signal the loops stop consuming, flush and commit (or abort) and return; `on_stop` callbacks
run last in reverse order.
"""
from __future__ import annotations

import os
import signal
import threading
from typing import Callable

from . import logging as mlog
from .settings import settings


class Lifecycle:
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.stopping = threading.Event()
        self.failed = False
        self._callbacks: list[Callable[[], None]] = []
        self.log = mlog.get("cobol.lifecycle")
        self.ready_file = settings.run_dir / f"{instance}.ready"
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)

    def _signal(self, signum, _frame) -> None:
        self.log.info("shutdown.requested", signal=signal.Signals(signum).name)
        self.stopping.set()

    def on_stop(self, fn: Callable[[], None]) -> None:
        self._callbacks.append(fn)

    def ready(self) -> None:
        try:
            settings.run_dir.mkdir(parents=True, exist_ok=True)
            self.ready_file.write_text(str(os.getpid()))
        except OSError:
            pass
        self.log.info("ready", pid=os.getpid())

    def wait(self, threads: list[threading.Thread] | None = None) -> None:
        """Block until a signal arrives (or a worker thread dies), then shut down."""
        while not self.stopping.wait(0.5):
            if threads and any(not t.is_alive() for t in threads):
                self.log.error("worker.died", threads=[t.name for t in threads if not t.is_alive()])
                self.failed = True
                self.stopping.set()
        self.shutdown(threads)

    def shutdown(self, threads: list[threading.Thread] | None = None) -> None:
        self.stopping.set()
        for t in threads or []:
            t.join(30)
        for fn in reversed(self._callbacks):
            try:
                fn()
            except Exception as exc:     # keep shutting down the rest
                self.log.warning("shutdown.step_failed", error=repr(exc))
        try:
            self.ready_file.unlink()
        except OSError:
            pass
        self.log.info("stopped", failed=self.failed)
        if self.failed:
            raise SystemExit(1)


def run_thread(name: str, target: Callable[[], None], lc: Lifecycle) -> threading.Thread:
    """A worker thread whose crash stops the whole process (a supervisor restarts it)."""
    def body():
        try:
            target()
        except Exception:
            mlog.get("cobol.lifecycle").exception("worker.crashed", thread=name)
            lc.failed = True
            lc.stopping.set()
    t = threading.Thread(target=body, name=name, daemon=True)
    t.start()
    return t
