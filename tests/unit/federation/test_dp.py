"""The Gaussian mechanism's calibration against the accountant, and the budget's refusal."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cobol_federation import dp, patterns


def test_noise_scale_matches_the_accountant_for_the_budget():
    z = dp.calibrate(1.0, 1e-6, 6)
    spent = dp.epsilon_for(z, 6, 1e-6)
    assert spent <= 1.0 and spent > 0.99              # tight: not more noise than needed
    assert dp.epsilon_for(z - 0.01, 6, 1e-6) > 1.0     # any less noise breaks the budget
    acc = dp.Accountant.for_budget(1.0, 1e-6, 6)
    # distributed noise: any min_inputs nodes' shares sum to the calibrated std
    sigma_node = acc.node_sigma(clip=1.0, min_inputs=4)
    assert math.isclose(sigma_node * math.sqrt(4), z, rel_tol=1e-12)
    rng = np.random.default_rng(1)
    total = sum(patterns.noisy_vector(np.zeros(200_000, dtype=np.int64), sigma_node, 16, rng) for _ in range(4))
    measured = patterns.decode_sum(total, 16).std()
    assert abs(measured - z) / z < 0.01


def test_budget_refuses_an_extra_release():
    acc = dp.Accountant.for_budget(1.0, 1e-6, 3)
    for _ in range(3):
        acc.charge()
    assert acc.spent <= 1.0 and acc.exhausted()
    with pytest.raises(dp.BudgetExhausted, match="budget"):
        acc.charge()
    assert acc.releases == 3


def test_bad_budget_arguments():
    with pytest.raises(ValueError):
        dp.calibrate(0.0, 1e-6, 1)
    with pytest.raises(ValueError):
        dp.calibrate(1.0, 1.5, 1)
