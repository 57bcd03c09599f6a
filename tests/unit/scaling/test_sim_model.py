"""The scaling model's prediction for the namespace simulation (scripts/scaling_model.py
`sim_prediction`): which bound binds, the partition split, and refused inputs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import scaling_model as sm  # noqa: E402


def test_network_bound_grows_with_workers_while_links_bind():
    # 40 Mbit/s = 5 MB/s a link; codec 30 MB/s a core; 2 cores; 12 partitions split evenly.
    for n in (1, 2, 4):
        m = sm.sim_prediction(n, 12, w_cpu=30, link_mbit=40, ratio=4, cores=2)
        assert m["bound"] == "network"
        assert m["mbs"] == pytest.approx(5 * n)
        assert not m["partition_limited"]


def test_cpu_bound_caps_at_the_host_cores():
    m = sm.sim_prediction(8, 16, w_cpu=30, link_mbit=400, ratio=4, cores=2)
    assert m["bound"] == "cpu" and m["mbs"] == pytest.approx(60)


def test_uneven_partition_split_idles_workers():
    # 12 partitions over 5 workers: the busiest has 3, so 12/3 = 4 workers' worth.
    m = sm.sim_prediction(5, 12, w_cpu=30, link_mbit=40, ratio=4, cores=8)
    assert m["effective_workers"] == pytest.approx(4)
    assert m["partition_limited"] and m["mbs"] == pytest.approx(20)
    # More workers than partitions: the extra ones have nothing to read.
    assert sm.sim_prediction(8, 6, 30, 40, 4, 8)["mbs"] == pytest.approx(30)


def test_incompressible_data_loads_the_outbound_link_more():
    # ratio 0.5 (frames twice the input): the outbound direction carries 2 bytes per input byte.
    m = sm.sim_prediction(1, 1, w_cpu=100, link_mbit=80, ratio=0.5, cores=1)
    assert m["per_worker_net"] == pytest.approx(5) and m["mbs"] == pytest.approx(5)


@pytest.mark.parametrize("args", [(0, 12, 30, 40, 4, 2), (1, 0, 30, 40, 4, 2), (1, 12, 0, 40, 4, 2),
                                  (1, 12, 30, -1, 4, 2), (1, 12, 30, 40, 0, 2), (1, 12, 30, 40, 4, 0)])
def test_refuses_nonsense(args):
    with pytest.raises(ValueError):
        sm.sim_prediction(*args)
