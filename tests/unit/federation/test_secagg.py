"""Secure aggregation: exact sums with and without dropouts; what the server holds reveals no
single vector; unsafe unmask requests and forged messages are refused."""
from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cobol_federation import secagg, shamir
from cobol_federation.proto import fpb
from cobol_federation.secagg import SecAggClient, SecAggError, SecAggServer

M = 4096


def shared_round(ids: list[str], round_id: int, degree: int = 0):
    """Clients and server after the share stage."""
    clients = {i: SecAggClient(i, Ed25519PrivateKey.generate(), round_id, degree) for i in ids}
    srv = SecAggServer(round_id, degree)
    for c in clients.values():
        srv.add_keys(c.advertise())
    t = srv.close_advertise()
    keys = [srv.keys[k] for k in sorted(srv.keys)]
    for i, c in clients.items():
        srv.add_shares(i, c.share_keys(keys, t))
    return clients, srv


def run_round(n: int, drop_after_shares: set[str] = frozenset(), degree: int = 0, round_id: int = 11):
    ids = [f"node-{i}" for i in range(n)]
    clients, srv = shared_round(ids, round_id, degree)
    rng = np.random.default_rng(5)
    xs = {i: rng.integers(0, 1 << 40, M, dtype=np.int64).astype(np.uint64) for i in ids}
    wire = {}
    for i, c in clients.items():
        if i in drop_after_shares:
            continue
        msg = c.masked_input(xs[i], srv.shares_for(i), srv.u2())
        wire[i] = msg.vector
        srv.add_masked(i, msg, M)
    for i in srv.survivors():
        srv.add_unmask(i, clients[i].unmask(srv.survivors(), srv.dropped()))
    return srv, xs, wire, clients


def test_exact_sum_without_dropouts():
    srv, xs, _, _ = run_round(5)
    assert np.array_equal(srv.aggregate(M), sum(xs.values()))


@pytest.mark.parametrize("n,drops", [(5, 1), (8, 2), (10, 2)])
def test_exact_sum_with_twenty_percent_dropouts(n, drops):
    dropped = {f"node-{i}" for i in range(drops)}
    srv, xs, _, _ = run_round(n, dropped)
    assert srv.dropped() == sorted(dropped)
    assert np.array_equal(srv.aggregate(M), sum(x for i, x in xs.items() if i not in dropped))


def test_sparse_secagg_plus_graph_sums_exactly():
    srv, xs, _, _ = run_round(9, {"node-4"}, degree=4)
    assert len(srv.group("node-0")) == 5
    assert np.array_equal(srv.aggregate(M), sum(x for i, x in xs.items() if i != "node-4"))


def test_masked_input_on_the_wire_reveals_no_vector():
    srv, xs, wire, _ = run_round(4)
    for i, raw in wire.items():
        y = np.frombuffer(raw, dtype="<u8")
        x = xs[i]
        assert not np.array_equal(y, x)
        # no coordinate equals the plain value more often than chance, and the bytes look uniform
        assert np.mean(y == x) < 0.01
        for j, other in wire.items():
            assert raw != other or i == j
        assert x.astype("<u8").tobytes() not in raw
        top_bits = (y >> np.uint64(63)).astype(np.int64)
        assert 0.4 < top_bits.mean() < 0.6          # real values are < 2^40: masked ones are not


def test_client_refuses_to_reveal_both_secrets_of_a_node():
    srv, _, _, clients = run_round(4, {"node-1"})
    c = SecAggClient("x", Ed25519PrivateKey.generate(), 3)
    with pytest.raises(SecAggError):
        c.unmask(["a"], ["a"])
    fresh_srv, _, _, fresh = run_round(4)
    victim = fresh["node-0"]
    victim.unmasked = False
    with pytest.raises(SecAggError, match="both"):
        victim.unmask(fresh_srv.survivors(), ["node-2"])


def test_client_refuses_unmask_with_too_few_survivors():
    clients, srv = shared_round([f"n{i}" for i in range(5)], 2)
    c = clients["n0"]
    c.masked_input(np.zeros(8, dtype=np.uint64), srv.shares_for("n0"), srv.u2())
    with pytest.raises(SecAggError, match="survivors"):
        c.unmask(["n0", "n1"], ["n2", "n3", "n4"])


def test_unsafe_threshold_and_forged_keys_are_refused():
    a = SecAggClient("a", Ed25519PrivateKey.generate(), 1)
    b = SecAggClient("b", Ed25519PrivateKey.generate(), 1)
    c = SecAggClient("c", Ed25519PrivateKey.generate(), 1)
    keys = [a.advertise(), b.advertise(), c.advertise()]
    with pytest.raises(SecAggError, match="unsafe"):
        a.share_keys(keys, 1)
    forged = fpb.NodeKeys()
    forged.CopyFrom(keys[1])
    forged.mask_public = bytes(32)
    with pytest.raises(SecAggError, match="signature"):
        a.share_keys([keys[0], forged, keys[2]], 2)
    srv = SecAggServer(1)
    srv.add_keys(keys[0])
    with pytest.raises(SecAggError, match="twice"):
        srv.add_keys(keys[0])


def test_malformed_masked_input_is_left_out():
    srv, xs, _, _ = run_round(3)
    with pytest.raises(SecAggError, match="twice"):
        srv.add_masked("node-0", fpb.NodeMasked(length=M, vector=bytes(8 * M)), M)
    srv2 = SecAggServer(4)
    with pytest.raises(SecAggError):
        srv2.add_masked("ghost", fpb.NodeMasked(length=M, vector=bytes(8 * M)), M)


def test_tampered_share_fails_authentication():
    clients, srv = shared_round(["a", "b", "c"], 9)
    shares = srv.shares_for("a")
    bad = fpb.EncryptedShare()
    bad.CopyFrom(shares[1])
    bad.ciphertext = bytes([bad.ciphertext[0] ^ 1]) + bad.ciphertext[1:]
    with pytest.raises(SecAggError, match="authentication"):
        clients["a"].masked_input(np.zeros(4, dtype=np.uint64), [shares[0], bad, shares[2]], srv.u2())


def test_shamir_threshold():
    import os
    s = os.urandom(32)
    sh = shamir.split(s, 3, [1, 2, 3, 4, 5])
    assert shamir.combine({k: sh[k] for k in (1, 3, 5)}, 3) == s
    assert shamir.combine({k: sh[k] for k in (2, 4, 5)}, 3) == s
    with pytest.raises(shamir.ShamirError):
        shamir.combine({1: sh[1], 2: sh[2]}, 3)
    with pytest.raises(shamir.ShamirError):
        shamir.split(s, 0, [1, 2])
    assert secagg.threshold_for(5) == 3
