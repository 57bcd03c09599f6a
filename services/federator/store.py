"""The federator's own state in PostgreSQL (schema `federator`; no other service reads it).

Dictionary bytes live here too (bytea): they are small (<= 1 MiB, 32 KiB by default),
content-addressed and immutable, and keeping them beside their lineage makes a version and
its bytes one transaction. A trigger refuses every DELETE on dictionaries: any archived frame
may name any version that was ever served, so none is ever removed.
"""
from __future__ import annotations

import json
import threading
import time

import psycopg
from psycopg.rows import dict_row

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.dictionaries (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{{16}}$'),
    content       bytea NOT NULL,
    parent_id     text,
    training_id   text NOT NULL DEFAULT '',
    round_id      bigint NOT NULL DEFAULT 0,
    status        text NOT NULL CHECK (status IN ('interim','candidate','current','retired','rejected','imported')),
    created_at    double precision NOT NULL,
    patterns      jsonb NOT NULL DEFAULT '[]',
    epsilon_spent double precision NOT NULL DEFAULT 0,
    delta         double precision NOT NULL DEFAULT 0,
    nodes         integer NOT NULL DEFAULT 0,
    dropped       integer NOT NULL DEFAULT 0,
    agreement     double precision NOT NULL DEFAULT 0,
    converged     boolean NOT NULL DEFAULT false,
    ab_chunks     bigint NOT NULL DEFAULT 0,
    ab_bytes_in   bigint NOT NULL DEFAULT 0,
    ab_bytes_out  bigint NOT NULL DEFAULT 0
);
CREATE OR REPLACE FUNCTION {s}.refuse_delete() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'dictionaries are never deleted: archived frames may name them'; END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS dictionaries_keep ON {s}.dictionaries;
CREATE TRIGGER dictionaries_keep BEFORE DELETE ON {s}.dictionaries FOR EACH ROW EXECUTE FUNCTION {s}.refuse_delete();
CREATE TABLE IF NOT EXISTS {s}.state (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    current_id    text NOT NULL DEFAULT '',
    candidate_id  text NOT NULL DEFAULT '',
    candidate_share double precision NOT NULL DEFAULT 0,
    seq           bigint NOT NULL DEFAULT 0,
    at            double precision NOT NULL DEFAULT 0
);
INSERT INTO {s}.state (one) VALUES (true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS {s}.promotions (
    seq           bigserial PRIMARY KEY,
    dictionary_id text NOT NULL,
    previous_id   text NOT NULL,
    action        text NOT NULL,
    at            double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS {s}.trainings (
    id            text PRIMARY KEY,
    started_at    double precision NOT NULL,
    finished_at   double precision,
    epsilon       double precision NOT NULL,
    delta         double precision NOT NULL,
    noise_multiplier double precision NOT NULL,
    clip          double precision NOT NULL,
    max_releases  integer NOT NULL,
    releases      integer NOT NULL DEFAULT 0,
    level         integer NOT NULL DEFAULT 0,
    found         jsonb NOT NULL DEFAULT '{{}}',
    parent_id     text NOT NULL DEFAULT '',
    last_id       text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'running',
    reason        text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS {s}.rounds (
    id            bigserial PRIMARY KEY,
    training_id   text NOT NULL,
    level         integer NOT NULL,
    status        text NOT NULL,
    opened_at     double precision NOT NULL,
    closed_at     double precision,
    invited       integer NOT NULL DEFAULT 0,
    contributed   integer NOT NULL DEFAULT 0,
    dropped       integer NOT NULL DEFAULT 0,
    excluded      jsonb NOT NULL DEFAULT '[]',
    dictionary_id text NOT NULL DEFAULT '',
    epsilon_spent double precision NOT NULL DEFAULT 0,
    reason        text NOT NULL DEFAULT '',
    candidates    integer NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS {s}.nodes (
    node_id       text PRIMARY KEY,
    identity_public bytea NOT NULL,
    first_seen    double precision NOT NULL
);
"""

DICT_COLUMNS = ("id, parent_id, training_id, round_id, status, created_at, length(content) AS size, "
                "jsonb_array_length(patterns) AS n_patterns, epsilon_spent, delta, nodes, dropped, agreement, "
                "converged, ab_chunks, ab_bytes_in, ab_bytes_out, "
                "(SELECT coalesce(sum((p->>2)::float8), 0) FROM jsonb_array_elements(patterns) p) AS saved")


class _Rows:
    def __init__(self, rows: list, rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows


class Store:
    def __init__(self, dsn: str, schema: str = "federator") -> None:
        self.dsn = dsn
        self.s = schema
        self.conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, row_factory=dict_row)
        self.lock = threading.RLock()        # one connection, shared by the gRPC threads and the rounds

    def close(self) -> None:
        self.conn.close()

    def _q(self, sql: str, args=()):
        with self.lock:
            cur = self.conn.execute(sql.replace("{s}", self.s), args)
            return _Rows(cur.fetchall() if cur.description else [], cur.rowcount)

    def migrate(self) -> None:
        with self.lock:
            self._q("SELECT pg_advisory_lock(74208)")
            try:
                self.conn.execute(SCHEMA.format(s=self.s))
            finally:
                self._q("SELECT pg_advisory_unlock(74208)")

    # ---- nodes (identity keys pinned on first use)
    def pin_node(self, node_id: str, public: bytes) -> bool:
        """True if `public` is (now) the pinned key of node_id; False if another key is."""
        self._q("INSERT INTO {s}.nodes VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (node_id, public, time.time()))
        row = self._q("SELECT identity_public FROM {s}.nodes WHERE node_id=%s", (node_id,)).fetchone()
        return bytes(row["identity_public"]) == public

    def node_key(self, node_id: str) -> bytes | None:
        row = self._q("SELECT identity_public FROM {s}.nodes WHERE node_id=%s", (node_id,)).fetchone()
        return bytes(row["identity_public"]) if row else None

    # ---- dictionaries
    def add_dictionary(self, d: dict) -> None:
        self._q("INSERT INTO {s}.dictionaries (id, content, parent_id, training_id, round_id, status, created_at, "
                "patterns, epsilon_spent, delta, nodes, dropped, agreement, converged) VALUES "
                "(%(id)s, %(content)s, %(parent_id)s, %(training_id)s, %(round_id)s, %(status)s, %(created_at)s, "
                "%(patterns)s, %(epsilon_spent)s, %(delta)s, %(nodes)s, %(dropped)s, %(agreement)s, %(converged)s) "
                "ON CONFLICT (id) DO NOTHING", d | {"patterns": json.dumps(d.get("patterns", []))})

    def dictionary(self, did: str) -> dict | None:
        return self._q(f"SELECT {DICT_COLUMNS} FROM {{s}}.dictionaries WHERE id=%s", (did,)).fetchone()  # nosec B608 # table and column names are module constants; every value is a bound parameter

    def content(self, did: str) -> bytes | None:
        row = self._q("SELECT content FROM {s}.dictionaries WHERE id=%s", (did,)).fetchone()
        return bytes(row["content"]) if row else None

    def patterns(self, did: str) -> list | None:
        row = self._q("SELECT patterns FROM {s}.dictionaries WHERE id=%s", (did,)).fetchone()
        return row["patterns"] if row else None

    def dictionaries(self, limit: int) -> list[dict]:
        return self._q(f"SELECT {DICT_COLUMNS} FROM {{s}}.dictionaries ORDER BY created_at DESC, id LIMIT %s",  # nosec B608 # table and column names are module constants; every value is a bound parameter
                       (limit,)).fetchall()

    def set_status(self, did: str, status: str) -> None:
        self._q("UPDATE {s}.dictionaries SET status=%s WHERE id=%s", (status, did))

    def mark_converged(self, did: str) -> None:
        self._q("UPDATE {s}.dictionaries SET converged=true WHERE id=%s", (did,))

    def add_usage(self, did: str, chunks: int, bytes_in: int, bytes_out: int) -> None:
        self._q("UPDATE {s}.dictionaries SET ab_chunks=ab_chunks+%s, ab_bytes_in=ab_bytes_in+%s, "
                "ab_bytes_out=ab_bytes_out+%s WHERE id=%s", (chunks, bytes_in, bytes_out, did))

    # ---- the served state and its history
    def state(self) -> dict:
        return self._q("SELECT current_id, candidate_id, candidate_share, seq, at FROM {s}.state").fetchone()

    def set_state(self, current_id: str, candidate_id: str, share: float, action: str | None = None,
                  subject: str = "", previous: str = "") -> dict:
        with self.lock, self.conn.transaction():
            self._q("UPDATE {s}.state SET current_id=%s, candidate_id=%s, candidate_share=%s, seq=seq+1, at=%s",
                    (current_id, candidate_id, share, time.time()))
            if action:
                self._q("INSERT INTO {s}.promotions (dictionary_id, previous_id, action, at) VALUES (%s,%s,%s,%s)",
                        (subject, previous, action, time.time()))
        return self.state()

    def promoted_over(self, did: str) -> str | None:
        """What was current before `did` was last promoted (None if it never was)."""
        row = self._q("SELECT previous_id FROM {s}.promotions WHERE dictionary_id=%s AND action='promote' "
                      "ORDER BY seq DESC LIMIT 1", (did,)).fetchone()
        return row["previous_id"] if row else None

    # ---- trainings and rounds
    def training(self) -> dict | None:
        return self._q("SELECT * FROM {s}.trainings ORDER BY started_at DESC LIMIT 1").fetchone()

    def add_training(self, t: dict) -> None:
        self._q("INSERT INTO {s}.trainings (id, started_at, epsilon, delta, noise_multiplier, clip, max_releases, "
                "parent_id) VALUES (%(id)s, %(started_at)s, %(epsilon)s, %(delta)s, %(noise_multiplier)s, %(clip)s, "
                "%(max_releases)s, %(parent_id)s)", t)

    def update_training(self, tid: str, **cols) -> None:
        if "found" in cols:
            cols["found"] = json.dumps(cols["found"])
        sets = ", ".join(f"{k}=%({k})s" for k in cols)
        self._q(f"UPDATE {{s}}.trainings SET {sets} WHERE id=%(tid)s", cols | {"tid": tid})  # nosec B608 # SET names come from this module's callers, never from input; values are bound

    def open_round(self, training_id: str, level: int, candidates: int) -> int:
        return self._q("INSERT INTO {s}.rounds (training_id, level, status, opened_at, candidates) "
                       "VALUES (%s, %s, 'open', %s, %s) RETURNING id",
                       (training_id, level, time.time(), candidates)).fetchone()["id"]

    def close_round(self, rid: int, **cols) -> None:
        if "excluded" in cols:
            cols["excluded"] = json.dumps(cols["excluded"])
        cols.setdefault("closed_at", time.time())
        sets = ", ".join(f"{k}=%({k})s" for k in cols)
        self._q(f"UPDATE {{s}}.rounds SET {sets} WHERE id=%(rid)s", cols | {"rid": rid})  # nosec B608 # SET names come from this module's callers, never from input; values are bound

    def fail_open_rounds(self, reason: str) -> None:
        self._q("UPDATE {s}.rounds SET status='failed', reason=%s, closed_at=%s WHERE status='open'",
                (reason, time.time()))

    def rounds(self, limit: int) -> list[dict]:
        return self._q("SELECT * FROM {s}.rounds ORDER BY id DESC LIMIT %s", (limit,)).fetchall()
