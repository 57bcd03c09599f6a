"""An analytics worker on a test mesh's own topics, for the browser tests whose pages ask
/api/analytics/* (the cluster page's edge rates): with none, those answers are 503s, which the
browser logs as console errors."""
from __future__ import annotations

import sys
from pathlib import Path

from corpora import ROOT

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from analytics_harness import AnalyticsProc  # noqa: E402


def start_mesh_analytics(mesh, workdir: Path, port: int, metrics_port: int) -> AnalyticsProc:
    """Started (the caller waits with `wait_ready()` and stops it with `stop()`); it reads
    `mesh`'s frames and job events in its own consumer group."""
    workdir.mkdir(parents=True, exist_ok=True)
    worker = AnalyticsProc(mesh.env["COBOL_KAFKA_BOOTSTRAP"], workdir, port=port, metrics_port=metrics_port)
    worker.env.update({"COBOL_TOPIC_FRAMES": mesh.env["COBOL_TOPIC_FRAMES"],
                       "COBOL_TOPIC_EVENTS": mesh.env["COBOL_TOPIC_EVENTS"],
                       "COBOL_GROUP_PREFIX": mesh.env["COBOL_GROUP_PREFIX"]})
    worker.start()
    return worker
