"""Shared fixtures: a small random model in both frameworks and its Jacobian."""

import numpy as np
import pytest

from cnninterp.jaxcore.passes.explainer import Explainer
from tests.jaxcore.torch_reference import Pair


@pytest.fixture(scope="session")
def small_pair() -> Pair:
    return Pair(width=4, seed=3)


@pytest.fixture(scope="session")
def image32() -> np.ndarray:
    return np.random.default_rng(7).random((32, 32), dtype=np.float32)


@pytest.fixture(scope="session")
def jacobian32(small_pair, image32) -> np.ndarray:
    return small_pair.torch_jacobian(image32)


@pytest.fixture(scope="session", params=["columns", "rows"])
def stats32(request, small_pair, image32):
    """The full pass both ways: by columns (the CPU's default) and by rows (GPUs')."""
    explainer = Explainer(small_pair.config, small_pair.variables, full_pass=request.param)
    return explainer.jacobian_stats(image32)
