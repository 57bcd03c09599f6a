"""The rounds of a training, as a state machine driven by `tick()` (the federator's loop) and
by the nodes' messages (`submit`). Asynchronous: every stage closes when everyone it waits
for has answered, or at its deadline with whoever did (advertise: at quorum plus a short grace
for joiners); a node that is late or leaves is simply not in the next stage's set, and the
round fails only if too few remain to unmask safely or to reach the calibrated noise.

A training walks the pattern levels (patterns.py): one round per level, each round one
Gaussian release charged to the training's accountant; every released round stores a version
(lineage: its parent is the previous version of the training, the first one's the version
current when the training began). It ends when successive versions agree (converged), when
a level finds nothing, after `max_releases` rounds, or when the budget has no room left.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

from cobol_federation import dp, ids, messages, patterns
from cobol_federation.node import candidates_digest
from cobol_federation.proto import fpb
from cobol_federation.secagg import SecAggError, SecAggServer

STAGES = ("advertise", "shares", "masked", "unmask")


class Refused(Exception):
    """A request the federator refuses; the message says why (gRPC maps it to a status)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Round:
    id: int
    training_id: str
    level: int
    domain: patterns.Domain
    config: fpb.RoundConfig
    stage: str
    deadline: float
    opened: float
    server: SecAggServer
    quorum_at: float = 0.0
    min_inputs: int = 0
    excluded: list = field(default_factory=list)


class Federation:
    def __init__(self, store, cfg, identity, broadcast, log) -> None:
        self.store, self.cfg, self.identity, self.broadcast, self.log = store, cfg, identity, broadcast, log
        self.public_hex = messages.public_bytes(identity).hex()
        self.lock = threading.RLock()
        self.guard = messages.ReplayGuard()
        self.round: Round | None = None
        self.training: dict | None = None
        self.accountant: dp.Accountant | None = None
        self.found: dict[int, dict[bytes, float]] = {}
        self.next_at = 0.0
        self.unpublished = False          # a state change whose broadcast failed: retried by tick()
        self.no_dict_usage = [0, 0, 0]
        self.ab_base: dict[str, tuple[int, int, int]] = {}

    # ---- start and the loop -------------------------------------------------------------
    def recover(self) -> None:
        self.store.fail_open_rounds("the federator restarted during the round")
        t = self.store.training()
        if t and t["status"] == "running":
            self._load_training(t)

    def _load_training(self, t: dict) -> None:
        self.training = t
        self.accountant = dp.Accountant(t["epsilon"], t["delta"], t["noise_multiplier"], t["max_releases"], t["releases"])
        self.found = {int(k): {bytes.fromhex(p): c for p, c in v.items()} for k, v in (t["found"] or {}).items()}

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            if self.unpublished:
                self._publish(self.store.state())
            if self.round is None:
                if now >= self.next_at:
                    self._open(now)
            else:
                self._advance(now)

    # ---- opening ------------------------------------------------------------------------
    def _start_training(self, now: float) -> bool:
        last = self.store.training()
        if last and last["status"] != "running" and now < (last["finished_at"] or 0) + self.cfg.training_interval:
            return False
        cfg = self.cfg
        acc = dp.Accountant.for_budget(cfg.epsilon, cfg.delta, cfg.max_releases)
        t = {"id": f"t{int(now)}-{os.urandom(3).hex()}", "started_at": now, "epsilon": cfg.epsilon,
             "delta": cfg.delta, "noise_multiplier": acc.noise_multiplier, "clip": cfg.clip,
             "max_releases": cfg.max_releases, "parent_id": self.store.state()["current_id"]}
        self.store.add_training(t)
        self._load_training(self.store.training())
        self.log.info("federation.training_started", training=t["id"], noise_multiplier=acc.noise_multiplier,
                      epsilon=cfg.epsilon, delta=cfg.delta, max_rounds=cfg.max_releases)
        return True

    def _open(self, now: float) -> None:
        if self.training is None and not self._start_training(now):
            return
        t = self.training
        if self.accountant.exhausted():
            self._finish_training(now, "the privacy budget has no room for another release")
            return
        level = t["level"]
        domain = (patterns.Domain(0) if level == 0 else
                  patterns.next_domain(level - 1, self.found.get(level - 1, {}), self.cfg.max_candidates))
        if domain.size == 0:
            self._finish_training(now, f"level {level} has no candidates")
            return
        cfg = self.cfg
        rid = self.store.open_round(t["id"], level, domain.size)
        config = fpb.RoundConfig(training_id=t["id"], level=level, min_nodes=cfg.min_nodes, clip=cfg.clip,
                                 scale_bits=cfg.scale_bits, max_records=cfg.max_records, neighbours=cfg.neighbours,
                                 candidates_sha256=candidates_digest(level, domain.candidates))
        self.round = Round(rid, t["id"], level, domain, config, "advertise", now + cfg.stage_seconds, now,
                           SecAggServer(rid, cfg.neighbours))
        self.guard.forget_before(rid)
        self.log.info("federation.round_opened", round=rid, training=t["id"], level=level, candidates=domain.size)

    # ---- stages -------------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        r, cfg = self.round, self.cfg
        s = r.server
        if r.stage == "advertise":
            if len(s.keys) >= cfg.min_nodes:
                r.quorum_at = r.quorum_at or now
                if now >= r.quorum_at + cfg.join_grace or now >= r.deadline:
                    r.config.threshold = s.close_advertise()
                    self._stage(r, "shares", now)
            elif now >= r.deadline:
                self._fail(now, f"only {len(s.keys)} nodes advertised keys, {cfg.min_nodes} needed")
        elif r.stage == "shares":
            if len(s.shares) == len(s.keys) or now >= r.deadline:
                need = max(cfg.min_nodes, r.config.threshold)
                if len(s.shares) < need:
                    return self._fail(now, f"only {len(s.shares)} nodes shared their keys, {need} needed")
                r.min_inputs = max(need, math.ceil(0.8 * len(s.shares)))
                r.config.min_inputs = r.min_inputs
                r.config.node_sigma = self.accountant.node_sigma(cfg.clip, r.min_inputs)
                self._stage(r, "masked", now)
        elif r.stage == "masked":
            if len(s.masked) == len(s.shares) or now >= r.deadline:
                if len(s.masked) < r.min_inputs:
                    return self._fail(now, f"only {len(s.masked)} masked inputs, {r.min_inputs} needed "
                                           "(fewer would fall short of the calibrated noise)")
                if self.accountant.exhausted():
                    return self._fail(now, "the privacy budget has no room for this release")
                self._stage(r, "unmask", now)
        elif r.stage == "unmask":
            if s.ready():
                self._release(now)
            elif now >= r.deadline:
                self._fail(now, "not enough unmask shares arrived to remove the masks")

    def _stage(self, r: Round, stage: str, now: float) -> None:
        r.stage, r.deadline = stage, now + self.cfg.stage_seconds
        self.log.info("federation.stage", round=r.id, stage=stage, nodes=len(r.server.keys),
                      shared=len(r.server.shares), masked=len(r.server.masked))

    def _fail(self, now: float, reason: str, charged: float = 0.0) -> None:
        r = self.round
        s = r.server
        self.store.close_round(r.id, status="failed", reason=reason, invited=len(s.keys), contributed=len(s.masked),
                               dropped=len(s.dropped()), excluded=r.excluded, epsilon_spent=charged)
        self.log.warning("federation.round_failed", round=r.id, reason=reason)
        self.round, self.next_at = None, now + self.cfg.round_pause

    def _release(self, now: float) -> None:
        r, cfg, t = self.round, self.cfg, self.training
        s = r.server
        try:
            total = s.aggregate(r.domain.size)
        except SecAggError as exc:
            return self._fail(now, f"unmasking failed: {exc}")
        try:
            eps = self.accountant.charge()       # the aggregate exists now: it costs, released or not
        except dp.BudgetExhausted as exc:
            return self._fail(now, str(exc))
        self.store.update_training(t["id"], releases=self.accountant.releases)
        counts = patterns.decode_sum(total, cfg.scale_bits)
        sigma = self.accountant.noise_multiplier * cfg.clip * math.sqrt(len(s.masked) / r.min_inputs)
        hi = len(s.masked) * cfg.max_records * min(1.0, cfg.clip) + 10 * sigma
        bad = np.nonzero((counts < -10 * sigma) | (counts > hi))[0]
        if len(bad):
            j = int(bad[0])
            return self._fail(now, f"aggregate out of range ({len(bad)} coordinates, e.g. #{j} = {counts[j]:.1f} "
                                   f"outside [{-10 * sigma:.1f}, {hi:.1f}]): a contribution was not clipped",
                              charged=eps)
        found = patterns.survivors(r.domain, counts, cfg.threshold_sigmas * sigma, cfg.keep)
        self.found[r.level] = found
        merged = {p: c for lvl in sorted(self.found) for p, c in self.found[lvl].items()}
        built = patterns.build_dictionary(merged, cfg.dict_bytes)
        previous = self.store.content(t["last_id"]) if t["last_id"] else b""
        agree = patterns.agreement(previous, built.patterns) if previous else 0.0
        did = ""
        if built.content:
            from cobol_codec import Dictionary
            did = ids.to_hex(Dictionary(built.content).id)
            self.store.add_dictionary({
                "id": did, "content": built.content, "parent_id": t["last_id"] or t["parent_id"] or None,
                "training_id": t["id"], "round_id": r.id, "status": "interim", "created_at": now,
                "patterns": [[p.hex(), round(c, 3), round(sv, 1)] for p, c, sv in built.patterns],
                "epsilon_spent": eps, "delta": cfg.delta, "nodes": len(s.masked), "dropped": len(s.dropped()),
                "agreement": agree, "converged": False})
        self.store.close_round(r.id, status="released", invited=len(s.keys), contributed=len(s.masked),
                               dropped=len(s.dropped()), excluded=r.excluded, dictionary_id=did, epsilon_spent=eps)
        self.log.info("federation.released", round=r.id, level=r.level, survivors=len(found), dictionary=did,
                      epsilon_spent=round(eps, 4), agreement=round(agree, 3), nodes=len(s.masked),
                      dropped=len(s.dropped()))
        level = r.level + 1
        self.store.update_training(t["id"], level=level, last_id=did or t["last_id"],
                                   found={str(k): {p.hex(): c for p, c in v.items()} for k, v in self.found.items()})
        t.update(level=level, last_id=did or t["last_id"])
        self.round, self.next_at = None, now + cfg.round_pause
        converged = bool(previous) and agree >= cfg.converge
        reason = ("successive versions agree" if converged else
                  f"level {r.level} found no pattern above the noise" if not found else
                  f"the training's {cfg.max_releases} rounds are done" if level >= cfg.max_releases else
                  "the privacy budget has no room for another release" if self.accountant.exhausted() else "")
        if reason:
            if converged or not found:
                self.store.mark_converged(t["last_id"])
            self._finish_training(now, reason)

    def _finish_training(self, now: float, reason: str) -> None:
        t = self.training
        final = t["last_id"]
        self.store.update_training(t["id"], status="finished", finished_at=now, reason=reason,
                                   releases=self.accountant.releases)
        self.log.info("federation.training_finished", training=t["id"], reason=reason, dictionary=final,
                      releases=self.accountant.releases, epsilon_spent=round(self.accountant.spent, 4))
        self.training, self.found = None, {}
        if not final:
            return
        self.store.set_status(final, "candidate")
        st = self.store.state()
        if self.cfg.promote == "auto" or (self.cfg.promote == "ab" and self.cfg.ab_share <= 0):
            self.promote(final)
        elif self.cfg.promote == "ab":
            self._base_usage(st["current_id"], final)
            self._publish(self.store.set_state(st["current_id"], final, self.cfg.ab_share))

    # ---- node messages ------------------------------------------------------------------
    def submit(self, env: fpb.SignedEnvelope) -> tuple[bool, str]:
        with self.lock:
            r = self.round
            try:
                messages.valid_node_id(env.node_id)
                if r is None or env.round_id != r.id:
                    raise messages.MessageError(f"round {env.round_id} is not the open round")
                if env.stage != r.stage:
                    raise messages.MessageError(f"stage {env.stage!r} is not open (the round is at {r.stage!r})")
                if env.stage == "advertise":
                    keys = fpb.NodeKeys.FromString(env.payload)
                    if keys.node_id != env.node_id:
                        raise messages.MessageError("the keys name another node")
                    messages.verify(env, keys.identity_public)
                    if not self.store.pin_node(env.node_id, bytes(keys.identity_public)):
                        raise messages.MessageError("identity key differs from the one pinned for this node")
                else:
                    k = r.server.keys.get(env.node_id)
                    if k is None:
                        raise messages.MessageError("the node did not advertise keys in this round")
                    messages.verify(env, k.identity_public)
                self.guard.check(env.round_id, env.nonce)
                if env.stage == "advertise":
                    r.server.add_keys(keys)
                elif env.stage == "shares":
                    r.server.add_shares(env.node_id, fpb.NodeShares.FromString(env.payload))
                elif env.stage == "masked":
                    r.server.add_masked(env.node_id, fpb.NodeMasked.FromString(env.payload), r.domain.size)
                else:
                    r.server.add_unmask(env.node_id, fpb.NodeUnmask.FromString(env.payload))
            except (messages.MessageError, SecAggError, ValueError, DecodeError) as exc:
                reason = str(exc) or type(exc).__name__
                self.log.warning("federation.refused", node=env.node_id[:64], round=env.round_id,
                                 stage=env.stage[:16], reason=reason)
                if r is not None and env.round_id == r.id:
                    r.excluded.append(f"{env.node_id[:64]} ({env.stage[:16]}): {reason}")
                return False, reason
            return True, ""

    def view(self, node_id: str, known_round: int) -> fpb.RoundView:
        with self.lock:
            r = self.round
            v = fpb.RoundView(federator_key=self.public_hex)
            if r is None:
                v.stage = "idle"
            else:
                s = r.server
                v.round_id, v.stage, v.deadline = r.id, r.stage, r.deadline
                v.config.CopyFrom(r.config)
                if known_round != r.id:
                    v.config.candidates.extend(r.domain.candidates)
                if r.stage != "advertise":
                    v.keys.extend(s.keys[k] for k in sorted(s.keys))
                if r.stage == "masked":
                    v.members.extend(s.u2())
                    v.shares_for_you.extend(s.shares_for(node_id))
                elif r.stage == "unmask":
                    v.members.extend(s.survivors())
                    v.dropped.extend(s.dropped())
            return messages.sign_view(self.identity, v)

    # ---- versions -----------------------------------------------------------------------
    def _publish(self, st: dict) -> fpb.DictionaryState:
        msg = fpb.DictionaryState(current_id=st["current_id"], candidate_id=st["candidate_id"],
                                  candidate_share=st["candidate_share"], seq=st["seq"], at=st["at"])
        try:
            self.broadcast(msg)
            self.unpublished = False
        except Exception as exc:            # the state is committed; the broadcast is retried
            self.unpublished = True
            self.log.warning("federation.broadcast_failed", seq=msg.seq, error=str(exc)[:300])
        return msg

    def current_state(self) -> fpb.DictionaryState:
        st = self.store.state()
        return fpb.DictionaryState(current_id=st["current_id"], candidate_id=st["candidate_id"],
                                   candidate_share=st["candidate_share"], seq=st["seq"], at=st["at"])

    def _known(self, did: str) -> dict:
        try:
            ids.parse(did)
        except ValueError as exc:
            raise Refused("INVALID_ARGUMENT", str(exc)) from None
        d = self.store.dictionary(did)
        if d is None:
            raise Refused("NOT_FOUND", f"no dictionary {did}")
        return d

    def promote(self, did: str) -> fpb.DictionaryState:
        with self.lock:
            self._known(did)
            st = self.store.state()
            if st["current_id"] == did:
                return self.current_state()
            prev = st["current_id"]
            if prev:
                self.store.set_status(prev, "retired")
            self.store.set_status(did, "current")
            cand = "" if st["candidate_id"] == did else st["candidate_id"]
            new = self.store.set_state(did, cand, st["candidate_share"] if cand else 0.0, "promote", did, prev)
            self.log.info("federation.promoted", dictionary=did, previous=prev)
            return self._publish(new)

    def rollback(self, did: str) -> fpb.DictionaryState:
        with self.lock:
            self._known(did)
            st = self.store.state()
            if st["current_id"] != did:
                raise Refused("FAILED_PRECONDITION", f"{did} is not the current version (current: "
                                                     f"{st['current_id'] or 'none'}); only it can be rolled back")
            prev = self.store.promoted_over(did) or ""
            self.store.set_status(did, "rejected")
            if prev:
                self.store.set_status(prev, "current")
            new = self.store.set_state(prev, st["candidate_id"], st["candidate_share"], "rollback", did, prev)
            self.log.info("federation.rolled_back", dictionary=did, restored=prev or "none")
            return self._publish(new)

    def _usage_of(self, did: str) -> tuple[int, int, int]:
        if not did:
            return tuple(self.no_dict_usage)
        d = self.store.dictionary(did)
        return (d["ab_chunks"], d["ab_bytes_in"], d["ab_bytes_out"]) if d else (0, 0, 0)

    def _base_usage(self, *dids: str) -> None:
        self.ab_base = {d: self._usage_of(d) for d in dids}

    def report_usage(self, rep: fpb.UsageReport) -> None:
        with self.lock:
            st = self.store.state()
            if st["candidate_id"] and not {st["candidate_id"], st["current_id"]} <= set(self.ab_base):
                self._base_usage(st["current_id"], st["candidate_id"])   # the test starts now
            for u in rep.usage:
                if not u.dictionary_id:
                    self.no_dict_usage = [a + b for a, b in zip(self.no_dict_usage, (u.chunks, u.bytes_in, u.bytes_out))]
                elif ids.HEX_ID.fullmatch(u.dictionary_id):
                    self.store.add_usage(u.dictionary_id, u.chunks, u.bytes_in, u.bytes_out)
            self._judge_ab()

    def _judge_ab(self) -> None:
        st = self.store.state()
        cand, cur = st["candidate_id"], st["current_id"]
        if not cand or self.cfg.promote != "ab":
            return
        arms = {}
        for d in (cur, cand):
            now, base = self._usage_of(d), self.ab_base[d]
            arms[d] = [a - b for a, b in zip(now, base)]
        if min(arms[cur][0], arms[cand][0]) < self.cfg.ab_min_chunks:
            return
        ratio = {d: (a[1] / a[2] if a[2] else 0.0) for d, a in arms.items()}
        self.log.info("federation.ab_result", candidate=cand, current=cur or "none",
                      candidate_ratio=round(ratio[cand], 4), current_ratio=round(ratio[cur], 4))
        if ratio[cand] > ratio[cur]:
            self.promote(cand)
        else:
            self.store.set_status(cand, "rejected")
            self._publish(self.store.set_state(cur, "", 0.0))

    def ab_ratio(self, did: str) -> float:
        c, bi, bo = self._usage_of(did)
        return bi / bo if bo else 0.0

    def budget(self) -> fpb.Budget:
        with self.lock:
            t = self.training or self.store.training()
            cfg = self.cfg
            if t is None:
                acc = dp.Accountant.for_budget(cfg.epsilon, cfg.delta, cfg.max_releases)
                return fpb.Budget(epsilon=cfg.epsilon, delta=cfg.delta, max_releases=cfg.max_releases,
                                  noise_multiplier=acc.noise_multiplier, accountant=dp.ACCOUNTANT)
            acc = (self.accountant if self.training else
                   dp.Accountant(t["epsilon"], t["delta"], t["noise_multiplier"], t["max_releases"], t["releases"]))
            return fpb.Budget(training_id=t["id"], epsilon=acc.epsilon, delta=acc.delta, epsilon_spent=acc.spent,
                              releases=acc.releases, max_releases=acc.max_releases,
                              noise_multiplier=acc.noise_multiplier, accountant=dp.ACCOUNTANT,
                              exhausted=acc.exhausted(), status=t["status"], reason=t["reason"] or "",
                              dictionary_id=t["last_id"] or "")
