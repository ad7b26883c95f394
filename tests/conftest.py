"""Suite-wide: JAX's strict promotion rules, and a private result cache.

Strict flags, once for every test (as patrick-kidger/equinox does): a silent broadcast of
mismatched ranks or a silent dtype widening is an error here, so the code says what it means.
The results of every test are cached in a per-session temporary folder, never the user's cache.
Hypothesis draws the same examples every run (derandomized, no example database: no flaky CI,
no .hypothesis/ folder); the fuzz modules set only how many. Widen locally with another seed.
"""

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile(
    "cnninterp",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("cnninterp")


@pytest.fixture(autouse=True, scope="session")
def private_result_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path_factory.mktemp("cnninterp-cache")))
        yield
