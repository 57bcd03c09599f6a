"""The job ledger in Redis.

Per job: a hash `<prefix>job:<id>` (status, name, source, profile, bytes_in, bytes_out,
chunk_count, archived, created_at, ...) and a set `<prefix>job:<id>:seqs` of archived seqs,
so a repeated ChunkArchived is counted once. A sorted set `<prefix>jobs` orders jobs by
creation. Every event is applied by one Lua script: atomic and idempotent under replay.

Status: queued (opened, nothing archived) -> running -> done (sealed and seqs 0..n-1 all
archived) | failed (aborted). done and failed are final; an aborted job never becomes done.
"""
from __future__ import annotations

import json
import time

import redis

from cobol_mesh.proto import pb

APPLY = r"""
local h, seqs, jobs = KEYS[1], KEYS[2], KEYS[3]
local kind, job_id, at = ARGV[1], ARGV[2], ARGV[3]
local before = redis.call('HGET', h, 'status')
if not redis.call('HGET', h, 'created_at') then
  redis.call('HSET', h, 'job_id', job_id, 'created_at', at, 'status', 'queued')
  redis.call('ZADD', jobs, at, job_id)
end
if kind == 'opened' then
  redis.call('HSET', h, 'source', ARGV[4], 'name', ARGV[5], 'profile', ARGV[6])
  -- the Opened time is the creation time even if another event came first
  redis.call('HSET', h, 'created_at', at)
  redis.call('ZADD', jobs, at, job_id)
elseif kind == 'sealed' then
  redis.call('HSET', h, 'sealed', '1', 'chunk_count', ARGV[4], 'bytes_in', ARGV[5], 'sha256', ARGV[6])
elseif kind == 'aborted' then
  local st = redis.call('HGET', h, 'status')
  if st ~= 'done' and st ~= 'failed' then
    redis.call('HSET', h, 'status', 'failed', 'reason', ARGV[4], 'finished_at', at)
  end
elseif kind == 'archived' then
  if redis.call('SADD', seqs, ARGV[4]) == 1 then
    redis.call('HINCRBY', h, 'archived', 1)
    redis.call('HINCRBY', h, 'archived_bytes_in', ARGV[5])
    redis.call('HINCRBY', h, 'bytes_out', ARGV[6])
    local top = tonumber(redis.call('HGET', h, 'max_seq') or '-1')
    if tonumber(ARGV[4]) > top then redis.call('HSET', h, 'max_seq', ARGV[4]) end
  end
  if redis.call('HGET', h, 'status') == 'queued' then redis.call('HSET', h, 'status', 'running') end
end
local st = redis.call('HGET', h, 'status')
if st ~= 'done' and st ~= 'failed' and redis.call('HGET', h, 'sealed') == '1' then
  local n = tonumber(redis.call('HGET', h, 'chunk_count'))
  if redis.call('SCARD', seqs) >= n then
    local complete = true
    for i = 0, n - 1 do
      if redis.call('SISMEMBER', seqs, tostring(i)) == 0 then complete = false; break end
    end
    if complete then
      redis.call('HSET', h, 'status', 'done', 'finished_at', at)
    end
  end
end
local after = redis.call('HGET', h, 'status')
if (after == 'done' or after == 'failed') and before ~= after then
  redis.call('HSET', h, 'finished_emitted', '0')
end
return {before or '', after}
"""

FIELDS_INT = ("bytes_in", "bytes_out", "chunk_count", "archived", "archived_bytes_in", "max_seq")


class Ledger:
    def __init__(self, url: str, prefix: str, channel: str) -> None:
        self.r = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
        self.prefix = prefix
        self.channel = channel
        self._apply = self.r.register_script(APPLY)

    def _keys(self, job_id: str) -> list[str]:
        return [f"{self.prefix}job:{job_id}", f"{self.prefix}job:{job_id}:seqs", f"{self.prefix}jobs"]

    def apply(self, ev: pb.JobEvent) -> tuple[str, str] | None:
        """Apply one event; returns (status before, status after), None if not a ledger input."""
        kind = ev.WhichOneof("event")
        at = repr(ev.at or time.time())
        if kind == "opened":
            args = [ev.opened.source, ev.opened.name, ev.opened.profile]
        elif kind == "sealed":
            args = [ev.sealed.chunk_count, ev.sealed.bytes_in, ev.sealed.sha256]
        elif kind == "aborted":
            args = [ev.aborted.reason or "aborted"]
        elif kind == "archived":
            args = [ev.archived.seq, ev.archived.bytes_in, ev.archived.bytes_out]
        else:
            return None                # JobFinished: our own output
        before, after = self._apply(keys=self._keys(ev.job_id), args=[kind, ev.job_id, at, *args])
        return before.decode(), after.decode()

    def pending_finished(self, job_id: str) -> bool:
        return self.r.hget(self._keys(job_id)[0], "finished_emitted") == b"0"

    def mark_finished_emitted(self, job_ids) -> None:
        with self.r.pipeline() as p:
            for j in job_ids:
                p.hset(self._keys(j)[0], "finished_emitted", "1")
            p.execute()

    def publish(self, job: pb.JobStatus) -> None:
        self.r.publish(self.channel, json.dumps({
            "job_id": job.job_id, "status": job.status, "progress": job.progress,
            "bytes_in": job.bytes_in, "bytes_out": job.bytes_out, "chunk_count": job.chunk_count,
            "chunks_archived": job.chunks_archived, "name": job.name, "source": job.source,
            "profile": job.profile, "reason": job.reason, "created_at": job.created_at,
            "finished_at": job.finished_at}))

    # -- queries ---------------------------------------------------------------------------
    def get(self, job_id: str) -> pb.JobStatus | None:
        return to_status(job_id, self.r.hgetall(self._keys(job_id)[0]))

    def list(self, limit: int) -> list[pb.JobStatus]:
        ids = [i.decode() for i in self.r.zrevrange(f"{self.prefix}jobs", 0, limit - 1)]
        with self.r.pipeline(transaction=False) as p:
            for i in ids:
                p.hgetall(self._keys(i)[0])
            rows = p.execute()
        return [s for s in (to_status(i, h) for i, h in zip(ids, rows)) if s is not None]


def to_status(job_id: str, h: dict) -> pb.JobStatus | None:
    if not h:
        return None
    g = {k.decode(): v.decode() for k, v in h.items()}
    n = {k: int(g.get(k) or 0) for k in FIELDS_INT}
    status = g.get("status", "queued")
    chunk_count = n["chunk_count"] if g.get("sealed") == "1" else 0
    if status == "done":
        progress = 1.0
    elif chunk_count:
        progress = min(n["archived"] / chunk_count, 0.999)
    else:   # not sealed yet: what is archived against what has been seen so far
        progress = min(n["archived"] / (int(g.get("max_seq") or -1) + 2), 0.99) if n["archived"] else 0.0
    return pb.JobStatus(
        job_id=job_id, status=status, progress=progress,
        bytes_in=n["bytes_in"] if g.get("sealed") == "1" else n["archived_bytes_in"],
        bytes_out=n["bytes_out"], chunks_archived=n["archived"], chunk_count=chunk_count,
        name=g.get("name", ""), source=g.get("source", ""), profile=g.get("profile", ""),
        reason=g.get("reason", ""), created_at=float(g.get("created_at") or 0),
        finished_at=float(g.get("finished_at") or 0), sha256=g.get("sha256", ""))
