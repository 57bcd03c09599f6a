"""Reading one job's trace back from the collector's query API (scripts/otel/collector.py), and
what such a trace must look like: shared by tests/otlp's two meshes (the harness's pipeline,
and `scripts/mesh.py up` with the API in front)."""
from __future__ import annotations

import sys
import time

from corpora import ROOT

sys.path.insert(0, str(ROOT / "scripts" / "otel"))
import collector  # noqa: E402,F401  (re-exported to the tests)

PIPELINE = {"cobol-ingest", "cobol-compressor", "cobol-archive", "cobol-coordinator"}


def job_trace(job_id: str, chunks: int, since: float) -> list[dict] | None:
    """The job's trace from the collector, once complete (every chunk compressed, archived by
    both replicas, both archivals applied by the coordinator); None until then."""
    found = collector.find_traces("cobol-compressor", since - 5, time.time() + 5)
    ids = {s["trace_id"] for s in collector.spans(found or {})
           if s["name"] == "compress.chunk" and s["attributes"].get("cobol.job_id") == job_id}
    if len(ids) != 1:
        assert len(ids) <= 1, f"the job's chunks are in several traces: {ids}"
        return None
    spans = collector.spans(collector.get_trace(ids.pop()) or {})
    seqs = {s["attributes"].get("cobol.seq") for s in spans if s["name"] == "compress.chunk"}
    archived = [s for s in spans if s["name"] == "archive.frame"]
    applied = [s for s in spans if s["name"] == "coordinator.apply" and s["attributes"].get("cobol.event") == "archived"]
    uploads = [s for s in spans if s["service"] == "cobol-ingest" and s["name"] == "/cobol.v1.Ingest/Upload"]
    if len(seqs) == chunks and len(archived) >= 2 * chunks and len(applied) >= 2 * chunks and uploads:
        return spans
    return None


def check_trace(spans: list[dict], job_id: str, root: tuple[str, str]) -> dict[str, list[dict]]:
    """One trace id; every pipeline service in it under its own service.name (both archive
    replicas by service.instance.id); one root, (service, name) = `root`; every other span's
    parent in the trace and from the service before it. Returns the spans by service."""
    assert len({s["trace_id"] for s in spans}) == 1
    by_service: dict[str, list[dict]] = {}
    for s in spans:
        by_service.setdefault(s["service"], []).append(s)
    assert PIPELINE <= set(by_service), sorted(by_service)
    assert {s["resource"]["service.instance.id"] for s in by_service["cobol-archive"]} == {"archive-1", "archive-2"}
    assert {s["attributes"]["cobol.job_id"] for s in by_service["cobol-compressor"]} == {job_id}
    ids = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if not s["parent_id"]]
    assert [(s["service"], s["name"]) for s in roots] == [root], roots
    assert all(s["parent_id"] in ids for s in spans if s is not roots[0]), "a span's parent is missing"
    chain = {"cobol-ingest": {root[0]} - {"cobol-ingest"}, "cobol-compressor": {"cobol-ingest"},
             "cobol-archive": {"cobol-compressor"}, "cobol-coordinator": {"cobol-ingest", "cobol-archive"}}
    for svc, parents in chain.items():
        for s in by_service[svc]:
            if s is not roots[0]:
                assert ids[s["parent_id"]]["service"] in parents, (svc, s["name"], ids[s["parent_id"]]["service"])
    return by_service
