"""The aggregation itself, free of faust: what one frame or job event adds to which buckets.

State lives in mappings the caller owns (faust tables in the service, dicts in unit
tests); every change is a whole-value assignment, which is what a changelog-backed table
needs (a value mutated in place is never written to its changelog).

`State.totals`: all-time aggregates, key `json.dumps([partition])`.
`State.buckets`: tumbling-window aggregates, key `json.dumps([partition, window, start])`
(`window` is the bucket width in seconds). Each value holds every dimension:
`{dim: {name: aggregate}}` (stored packed as JSON text, see `pack_grouped`), so one record costs one changelog write per table key it
touches (totals, one bucket per window, its job), not one per dimension and name.
`State.series`: per `json.dumps([partition, window])`, the bucket starts it holds, so old
buckets are deleted as new ones open and a query finds its buckets without scanning.
Keys carry the source partition because a faust table writes each change to the changelog
partition of the event being processed: a key written from one partition only restores
exactly after a restart. Readers sum the partitions.

`jobs`: per job id, the profile (from JobOpened), the frames waiting for it, and the chunk
sequence numbers already counted (so a frame delivered twice is counted once).
`ended`: the jobs that ended, per `json.dumps([partition, minute])`, and per
`json.dumps([partition])` the minutes it holds. A job's entry is dropped `job_keep` seconds
(event time) after its end: long enough to recognise a redelivered record, and what keeps
`jobs` from growing with every job ever seen (a 30-minute soak showed it did).

`jobs` and `ended` hold one entry per job of the last hour: the soak's device streams make
tens of jobs a second, so their values are stored as compact JSON text (one str object, ~10x
smaller than the nested dicts and lists it encodes; see `pack_job`). Values written in the
earlier form (a dict per job, a list of ids per minute) are still read, so a worker restores
a changelog written by the previous version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, MutableMapping

# Latency histogram bounds (seconds); a value falls in the first bucket whose bound >= it.
LATENCY_BOUNDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
DIMENSIONS = ("all", "node", "layer", "profile", "replica", "status")
MAX_NAME = 128
MAX_PENDING = 100_000           # frames of one job waiting for its JobOpened
JOB_KEEP = 3600                 # seconds a job's entry outlives its end (dedupe of late records)
ENDED_STEP = 60                 # ended jobs are grouped per minute of their end
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Windows:
    """Tumbling window widths (seconds) and how long each keeps its buckets."""
    retention: tuple[tuple[int, int], ...] = ((10, 3600), (60, 86400))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(w for w, _ in self.retention)


def empty() -> dict:
    return {"n": 0, "in": 0, "out": 0, "us": 0, "us_max": 0, "h": [0] * (len(LATENCY_BOUNDS) + 1)}


def sample(n: int = 1, bytes_in: int = 0, bytes_out: int = 0, us: int = 0, latency: bool = True) -> dict:
    """One observation: `us` is the codec time in microseconds (integers add up exactly)."""
    s = empty()
    s.update(n=n, **{"in": bytes_in, "out": bytes_out, "us": us, "us_max": us})
    if latency:
        s["h"][latency_bucket(us / 1e6)] += n
    return s


def _bump(table: MutableMapping, key: str, adds: list, packed: bool = False) -> None:
    """Adds [(dim, name, aggregate)] to the grouped value at `key` (one write); `packed`:
    store it as text (`pack_grouped`)."""
    value = dict(unpack_grouped(table.get(key)))
    for dim, name, s in adds:
        names = value[dim] = dict(value.get(dim) or {})
        names[name] = merge(names[name], s) if name in names else s
    table[key] = pack_grouped(value) if packed else value


# A bucket's grouped value is stored as JSON text, each aggregate an array of these fields:
# one str object instead of ~100 dicts, lists and ints (buckets are kept for a day).
_AGG_FIELDS = ("n", "in", "out", "us", "us_max", "h")


def pack_grouped(value: dict) -> str:
    return json.dumps({d: {n: [a[f] for f in _AGG_FIELDS] for n, a in names.items()}
                       for d, names in value.items()}, separators=(",", ":"))


def _unpack_names(names: dict) -> dict:
    return {n: dict(zip(_AGG_FIELDS, a)) for n, a in names.items()}


def unpack_grouped(value) -> dict:
    """A grouped value as {dim: {name: aggregate}}, from packed text or the dict form (totals,
    and the buckets the previous version wrote to the changelog). {} for None."""
    if not value:
        return {}
    if isinstance(value, str):
        return {d: _unpack_names(names) for d, names in json.loads(value).items()}
    return value


def grouped_dim(value, dim: str) -> dict:
    """{name: aggregate} of one dimension of a grouped value (packed or not)."""
    return unpack_grouped(value).get(dim) or {}


def latency_bucket(seconds: float) -> int:
    for i, bound in enumerate(LATENCY_BOUNDS):
        if seconds <= bound:
            return i
    return len(LATENCY_BOUNDS)


def merge(a: dict, b: dict) -> dict:
    return {"n": a["n"] + b["n"], "in": a["in"] + b["in"], "out": a["out"] + b["out"],
            "us": a["us"] + b["us"], "us_max": max(a["us_max"], b["us_max"]),
            "h": [x + y for x, y in zip(a["h"], b["h"])]}


def quantile(s: dict, q: float) -> float:
    """Upper bound (seconds) of the histogram bucket holding quantile q; 0 when empty; the
    largest seen value when the quantile falls in the open last bucket."""
    if s["n"] <= 0:
        return 0.0
    rank = q * s["n"]
    seen = 0
    for i, count in enumerate(s["h"]):
        seen += count
        if count and seen >= rank:
            return LATENCY_BOUNDS[i] if i < len(LATENCY_BOUNDS) else s["us_max"] / 1e6
    return s["us_max"] / 1e6


def derived(s: dict) -> dict:
    """Ratio, MB/s (bytes in per codec second) and latency figures of one aggregate."""
    secs = s["us"] / 1e6
    return {"ratio": s["in"] / s["out"] if s["out"] else 0.0,
            "mb_per_s": s["in"] / 1e6 / secs if secs > 0 else 0.0,
            "latency_mean": secs / s["n"] if s["n"] else 0.0,
            "latency_max": s["us_max"] / 1e6,
            "latency_p50": quantile(s, 0.50), "latency_p99": quantile(s, 0.99)}


def clean_name(name: str) -> str:
    """Names come off the wire: keep them printable and bounded."""
    name = "".join(ch if ch.isprintable() else "?" for ch in name[:MAX_NAME])
    return name or UNKNOWN


@dataclass
class State:
    totals: MutableMapping
    series: MutableMapping
    buckets: MutableMapping
    jobs: MutableMapping
    ended: MutableMapping

    @classmethod
    def in_memory(cls) -> "State":
        return cls({}, {}, {}, {}, {})

    def mappings(self) -> tuple[MutableMapping, ...]:
        return (self.totals, self.series, self.buckets, self.jobs, self.ended)


def total_key(partition: int) -> str:
    return json.dumps([partition])


def bucket_key(partition: int, window: int, start: int) -> str:
    return json.dumps([partition, window, start])


def series_key(partition: int, window: int) -> str:
    return json.dumps([partition, window])


def parse_key(key: str) -> list:
    return json.loads(key)


# ---- compact job entries -----------------------------------------------------------------

_JOB_FIELDS = ("profile", "pending", "seen", "archived", "final")


def new_job() -> dict:
    return {"profile": None, "pending": [], "seen": [], "archived": {}, "final": None}


def pack_job(job: dict) -> str:
    """A job entry as the text stored in `jobs`: a JSON list of its fields, in order."""
    return json.dumps([job[f] for f in _JOB_FIELDS], separators=(",", ":"))


def unpack_job(value) -> dict:
    """A `jobs` value (packed text, or the dict of the previous format) as a fresh dict."""
    if value is None:
        return new_job()
    if isinstance(value, str):
        return dict(zip(_JOB_FIELDS, json.loads(value)))
    return {**new_job(), **value}


def ended_ids(value) -> list:
    """The job ids of an `ended` minute: packed JSON text, or the list of the previous format."""
    if not value:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def ended_add(value, job_id: str) -> str:
    """`value` with job_id appended, as packed text (a JSON array): no parse of what is there."""
    if isinstance(value, list):
        value = json.dumps(value, separators=(",", ":"))
    item = json.dumps(job_id)
    return f"[{item}]" if not value or value == "[]" else f"{value[:-1]},{item}]"


# ---- seen sets as sorted, merged [lo, hi) ranges (a job's seqs are dense: usually one range)

def ranges_contain(ranges: list, x: int) -> bool:
    return any(lo <= x < hi for lo, hi in ranges)


def ranges_add(ranges: list, x: int) -> list:
    out = sorted([list(r) for r in ranges] + [[x, x + 1]])
    merged: list[list[int]] = []
    for lo, hi in out:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


class Aggregator:
    def __init__(self, state: State, windows: Windows = Windows(), job_keep: int = JOB_KEEP) -> None:
        self.state = state
        self.jobs = state.jobs
        self.windows = windows
        self.job_keep = job_keep

    # -- buckets --------------------------------------------------------------------------

    def _apply(self, partition: int, adds: list) -> None:
        """adds: [(dim, name, ts, aggregate)]: one write per table key touched."""
        if not adds:
            return
        _bump(self.state.totals, total_key(partition), [(d, n, s) for d, n, _, s in adds])
        for window, keep in self.windows.retention:
            by_start: dict[int, list] = {}
            for d, n, ts, s in adds:
                by_start.setdefault(int(ts // window) * window, []).append((d, n, s))
            for start, group in sorted(by_start.items()):
                key = bucket_key(partition, window, start)
                if key in self.state.buckets or self._open_bucket(partition, window, start, keep):
                    _bump(self.state.buckets, key, group, packed=True)
                # else: older than the series keeps: counted in the totals only

    def _open_bucket(self, partition: int, window: int, start: int, keep: int) -> bool:
        skey = series_key(partition, window)
        starts = sorted(set(self.state.series.get(skey) or []) | {start})
        horizon = starts[-1] - keep
        if start < horizon:
            return False
        for old in [s for s in starts if s < horizon]:
            self.state.buckets.pop(bucket_key(partition, window, old), None)
        self.state.series[skey] = [s for s in starts if s >= horizon]
        return True

    # -- inputs ---------------------------------------------------------------------------

    def _job(self, job_id: str) -> dict:
        return unpack_job(self.jobs.get(job_id))

    def on_frame(self, partition: int, ts: float, job_id: str, seq: int, bytes_in: int,
                 bytes_out: int, worker: str, codec_seconds: float,
                 layers: Iterable | None) -> bool:
        """Counts one frame (False: this (job, seq) was already counted). `layers`: the
        frame's LayerBytes, or None when its layout could not be read."""
        job = self._job(job_id)
        if ranges_contain(job["seen"], seq):
            return False
        job["seen"] = ranges_add(job["seen"], seq)
        us = max(0, round(codec_seconds * 1e6))
        s = sample(1, bytes_in, bytes_out, us)
        adds = [("all", "all", ts, s), ("node", clean_name(worker), ts, s)]
        if layers is None:
            adds.append(("layer", "unreadable", ts, s))
        for lb in layers or ():
            adds.append(("layer", f"L{lb.layer}", ts, sample(1, lb.bytes_in, lb.bytes_out, us)))
        if job["profile"] is not None:
            adds.append(("profile", job["profile"], ts, s))
        elif len(job["pending"]) < MAX_PENDING:
            job["pending"] = job["pending"] + [[ts, bytes_in, bytes_out, us]]
        self.jobs[job_id] = pack_job(job)
        self._apply(partition, adds)
        return True

    def on_opened(self, partition: int, ts: float, job_id: str, profile: str) -> bool:
        job = self._job(job_id)
        if job["profile"] is not None:
            return False
        job["profile"] = clean_name(profile)
        adds = [("profile", job["profile"], f_ts, sample(1, b_in, b_out, us))
                for f_ts, b_in, b_out, us in job["pending"]]
        adds.append(("status", "opened", ts, sample(latency=False)))
        job["pending"] = []
        self.jobs[job_id] = pack_job(job)
        self._apply(partition, adds)
        return True

    def on_archived(self, partition: int, ts: float, job_id: str, seq: int, bytes_in: int,
                    bytes_out: int, replica: str) -> bool:
        job = self._job(job_id)
        replica = clean_name(replica)
        seen = job["archived"].get(replica, [])
        if ranges_contain(seen, seq):
            return False
        job["archived"] = {**job["archived"], replica: ranges_add(seen, seq)}
        self.jobs[job_id] = pack_job(job)
        self._apply(partition, [("replica", replica, ts, sample(1, bytes_in, bytes_out, latency=False))])
        return True

    def on_final(self, partition: int, ts: float, job_id: str, status: str) -> bool:
        """A job's end (done | failed | aborted): counted once per job."""
        job = self._job(job_id)
        if job["final"] is not None:
            return False
        job["final"] = clean_name(status)
        self.jobs[job_id] = pack_job(job)
        self._apply(partition, [("status", job["final"], ts, sample(latency=False))])
        self._ended(partition, ts, job_id)
        return True

    # -- forgetting ended jobs ------------------------------------------------------------

    def _ended(self, partition: int, ts: float, job_id: str) -> None:
        """Files the job under the minute it ended; a minute that opens drops the jobs of the
        minutes more than `job_keep` older than it."""
        ended = self.state.ended
        minute = int(ts // ENDED_STEP) * ENDED_STEP
        ikey = total_key(partition)
        minutes = list(ended.get(ikey) or [])
        if minute not in minutes:
            horizon = max(minutes + [minute]) - self.job_keep
            for old in [m for m in minutes if m < horizon]:
                for jid in ended_ids(ended.pop(bucket_key(partition, ENDED_STEP, old), None)):
                    self._forget(jid)
            if minute < horizon:        # ended long before what this partition has seen since
                self._forget(job_id)
                minute = None
            ended[ikey] = sorted(m for m in minutes + [minute] if m is not None and m >= horizon)
        if minute is not None:
            key = bucket_key(partition, ENDED_STEP, minute)
            ended[key] = ended_add(ended.get(key), job_id)

    def _forget(self, job_id: str) -> None:
        value = self.jobs.get(job_id)
        if value is not None and unpack_job(value)["final"] is not None:   # not one re-created by a late record
            del self.jobs[job_id]
