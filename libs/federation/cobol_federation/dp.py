"""Differential privacy: the Gaussian mechanism's calibration and the privacy accountant.

Privacy unit: one record (a line of a node's frozen training sample). Each round a record adds
a vector of L2 norm at most `clip` to its node's contribution, so one round's sum has L2
sensitivity `clip` (add/remove one record). A training is at most `max_releases` rounds;
every round's aggregate is one Gaussian release with std `noise_multiplier * clip`.
The multiplier is the smallest one for which the composition of `max_releases` such releases
is (epsilon, delta)-DP, computed with Google's dp-accounting (privacy loss distributions,
tight). The accountant charges every aggregate the federator unmasks, released or not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import dp_accounting
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

ACCOUNTANT = "dp-accounting PLD (Gaussian, add/remove one record)"


class BudgetExhausted(RuntimeError):
    """A release would push the training past its (epsilon, delta) budget."""


def _pld(noise_multiplier: float, releases: int) -> pld_privacy_accountant.PLDAccountant:
    acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    acc.compose(dp_accounting.GaussianDpEvent(noise_multiplier), releases)
    return acc


@lru_cache(maxsize=256)
def epsilon_for(noise_multiplier: float, releases: int, delta: float) -> float:
    """epsilon spent by `releases` Gaussian releases of this multiplier at `delta`."""
    if releases <= 0:
        return 0.0
    return float(_pld(noise_multiplier, releases).get_epsilon(delta))


def _rdp_epsilon(noise_multiplier: float, releases: int, delta: float) -> float:
    acc = rdp_privacy_accountant.RdpAccountant()
    acc.compose(dp_accounting.GaussianDpEvent(noise_multiplier), releases)
    return float(acc.get_epsilon(delta))


def _bisect(eps_of, epsilon: float, lo: float, hi: float, tol: float) -> float:
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if eps_of(mid) > epsilon:
            lo = mid
        else:
            hi = mid
    return hi


@lru_cache(maxsize=64)
def calibrate(epsilon: float, delta: float, releases: int) -> float:
    """The smallest noise multiplier (std / sensitivity) whose `releases`-fold composition is
    (epsilon, delta)-DP by the tight PLD accountant, rounded up to 1e-3. RDP (looser, fast)
    brackets it first: its answer is an upper bound."""
    if not (epsilon > 0 and 0 < delta < 1 and releases >= 1):
        raise ValueError("epsilon > 0, 0 < delta < 1 and at least one release are required")
    hi = 1.0
    while _rdp_epsilon(hi, releases, delta) > epsilon:
        hi *= 2
        if hi > 1e5:
            raise ValueError("no reasonable noise meets this budget")
    hi = _bisect(lambda z: _rdp_epsilon(z, releases, delta), epsilon, hi / 2, hi, 1e-3)
    lo = hi * 0.85                      # PLD is within a few percent of RDP here
    while epsilon_for(round(lo, 6), releases, delta) <= epsilon:
        lo *= 0.85
    z = _bisect(lambda z: epsilon_for(round(z, 6), releases, delta), epsilon, lo, hi, 1e-3)
    return math.ceil(z * 1000) / 1000


@dataclass
class Accountant:
    """Tracks one training's releases; `charge()` refuses one past the budget."""
    epsilon: float
    delta: float
    noise_multiplier: float
    max_releases: int
    releases: int = 0

    @classmethod
    def for_budget(cls, epsilon: float, delta: float, max_releases: int, releases: int = 0) -> "Accountant":
        return cls(epsilon, delta, calibrate(epsilon, delta, max_releases), max_releases, releases)

    @property
    def spent(self) -> float:
        return epsilon_for(self.noise_multiplier, self.releases, self.delta)

    def would_spend(self, extra: int = 1) -> float:
        return epsilon_for(self.noise_multiplier, self.releases + extra, self.delta)

    def exhausted(self) -> bool:
        return self.would_spend() > self.epsilon + 1e-9

    def charge(self) -> float:
        after = self.would_spend()
        if after > self.epsilon + 1e-9:
            raise BudgetExhausted(f"one more release would spend epsilon {after:.3f} > budget {self.epsilon} "
                                  f"(delta {self.delta}, {self.releases} releases so far)")
        self.releases += 1
        return after

    def node_sigma(self, clip: float, min_inputs: int) -> float:
        """Distributed noise: each node adds N(0, node_sigma^2), so any `min_inputs` of them
        sum to at least the calibrated std `noise_multiplier * clip`."""
        return self.noise_multiplier * clip / math.sqrt(max(1, min_inputs))
