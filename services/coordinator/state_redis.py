"""The coordinator's state in Redis (see state.py for the interface).

Keys (all under COBOL_REDIS_PREFIX + LAYOUT; ids are only ever hash fields, set or zset members;
LAYOUT keeps them apart from the first ledger's `job:<id>` keys, which are left alone):
  leader        "<token>:<holder>" with a TTL: the lease       epoch         INCR: fencing tokens
  jobs          hash job_id -> JobRecord                       jobs:order    zset job_id by created_at
  jobs:status   hash job_id -> JobStatus (computed by the writer, so reads parse nothing else)
  jobs:open     set of jobs not final                          jobs:finish   set: JobFinished to emit
  offsets       hash "<topic>\\0<partition>" -> next offset of the events the state includes
  nodes         hash instance -> Node                          nodes:events  zset seq -> NodeEvent

Every call rides out a Redis restart: the client reconnects on its next command, and the
callers (the coordinator's loops) retry with a backoff instead of dying.
"""
from __future__ import annotations


import redis

from .state import EVENTS_CAP, Batch, Fenced, State

LAYOUT = "v2:"
KEYS = ("leader", "epoch", "jobs", "jobs:order", "jobs:open", "jobs:finish", "offsets", "nodes",
        "nodes:events", "jobs:status")
SLOT = {name: i + 1 for i, name in enumerate(KEYS)}   # Lua KEYS index

ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t .. ':' .. ARGV[1], 'PX', ARGV[2])
return t
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# ARGV[1] is the lease value the writer holds; then ops: name, key slot, operands.
WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED lease lost') end
local i = 2
while i <= #ARGV do
  local op, k = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'hset' then redis.call('HSET', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'zadd' then redis.call('ZADD', k, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'hdel' then redis.call('HDEL', k, ARGV[i + 2]); i = i + 3
  elseif op == 'sadd' then redis.call('SADD', k, ARGV[i + 2]); i = i + 3
  elseif op == 'srem' then redis.call('SREM', k, ARGV[i + 2]); i = i + 3
  elseif op == 'cap' then redis.call('ZREMRANGEBYRANK', k, 0, -tonumber(ARGV[i + 2]) - 1); i = i + 3
  else return redis.error_reply('unknown op ' .. op) end
end
return 1
"""


def _lease_value(holder: str, token: int) -> bytes:
    return f"{token}:".encode() + holder.encode()


def offset_field(topic: str, partition: int) -> bytes:
    return topic.encode() + b"\0" + str(partition).encode()


class RedisState(State):
    def __init__(self, url: str, prefix: str, timeout: float = 3.0) -> None:
        self.r = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                      health_check_interval=5, retry_on_timeout=False)
        self.keys = [prefix + LAYOUT + k for k in KEYS]
        self.k = dict(zip(KEYS, self.keys))
        self._acquire = self.r.register_script(ACQUIRE)
        self._renew = self.r.register_script(RENEW)
        self._release = self.r.register_script(RELEASE)
        self._write = self.r.register_script(WRITE)

    # -- election ----------------------------------------------------------------------------
    def try_acquire(self, holder, ttl_ms):
        t = self._acquire(keys=[self.k["leader"], self.k["epoch"]], args=[holder, ttl_ms])
        return int(t) if t else None

    def renew(self, holder, token, ttl_ms):
        return bool(self._renew(keys=[self.k["leader"]], args=[_lease_value(holder, token), ttl_ms]))

    def release(self, holder, token):
        self._release(keys=[self.k["leader"]], args=[_lease_value(holder, token)])

    def leader(self):
        v = self.r.get(self.k["leader"])
        if not v:
            return None
        token, _, holder = v.partition(b":")
        return holder.decode(errors="replace"), int(token)

    # -- the fenced write --------------------------------------------------------------------
    def write(self, holder, token, batch: Batch) -> None:
        args: list = [_lease_value(holder, token)]
        for j, rec in batch.jobs.items():
            args += ["hset", SLOT["jobs"], j, rec]
        for j, st in batch.status.items():
            args += ["hset", SLOT["jobs:status"], j, st]
        for j, at in batch.order.items():
            args += ["zadd", SLOT["jobs:order"], repr(float(at)), j]
        for j in batch.open_add:
            args += ["sadd", SLOT["jobs:open"], j]
        for j in batch.open_del:
            args += ["srem", SLOT["jobs:open"], j]
        for j in batch.finish_add:
            args += ["sadd", SLOT["jobs:finish"], j]
        for j in batch.finish_del:
            args += ["srem", SLOT["jobs:finish"], j]
        for (topic, part), off in batch.offsets.items():
            args += ["hset", SLOT["offsets"], offset_field(topic, part), off]
        for inst, rec in batch.nodes.items():
            args += ["hset", SLOT["nodes"], inst, rec]
        for inst in batch.nodes_del:
            args += ["hdel", SLOT["nodes"], inst]
        for seq, ev in batch.node_events:
            args += ["zadd", SLOT["nodes:events"], seq, ev]
        if batch.node_events:
            args += ["cap", SLOT["nodes:events"], EVENTS_CAP]
        try:
            self._write(keys=self.keys, args=args)
        except redis.ResponseError as exc:
            if str(exc).startswith("FENCED"):
                raise Fenced(str(exc)) from None
            raise

    # -- reads -------------------------------------------------------------------------------
    def jobs(self, job_ids):
        if not job_ids:
            return {}
        vals = self.r.hmget(self.k["jobs"], job_ids)
        return {j: v for j, v in zip(job_ids, vals) if v is not None}

    def statuses(self, job_ids):
        if not job_ids:
            return {}
        vals = self.r.hmget(self.k["jobs:status"], job_ids)
        return {j: v for j, v in zip(job_ids, vals) if v is not None}

    def job_ids(self, limit):
        return [j.decode() for j in self.r.zrevrange(self.k["jobs:order"], 0, limit - 1)]

    def open_jobs(self):
        return sorted(j.decode() for j in self.r.smembers(self.k["jobs:open"]))

    def finish_pending(self):
        return sorted(j.decode() for j in self.r.smembers(self.k["jobs:finish"]))

    def offsets(self, topic):
        out = {}
        for f, v in self.r.hgetall(self.k["offsets"]).items():
            t, _, p = f.rpartition(b"\0")
            if t == topic.encode():
                out[int(p)] = int(v)
        return out

    def nodes(self):
        return {k.decode(): v for k, v in self.r.hgetall(self.k["nodes"]).items()}

    def node_events(self, limit, before_seq=0):
        hi = f"({before_seq}" if before_seq else "+inf"
        return self.r.zrevrangebyscore(self.k["nodes:events"], hi, "-inf", start=0, num=limit)

    def last_event_seq(self):
        top = self.r.zrevrange(self.k["nodes:events"], 0, 0, withscores=True)
        return int(top[0][1]) if top else 0

    def ping(self):
        self.r.ping()
