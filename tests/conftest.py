"""Suite-wide: JAX's strict promotion rules, one compilation cache, a private result cache and
the one tiny model the front-end tests open.

Strict flags, once for every test (as patrick-kidger/equinox does): a silent broadcast of
mismatched ranks or a silent dtype widening is an error here, so the code says what it means.

Compilations dominate the suite's time, and many tests compile the same functions for the same
model and shapes (each Explainer jits its own, with the weights as constants on the CPU). JAX's
persistent compilation cache turns every repeat into a read, within a run and across runs: it
lives in .pytest-jax-cache/ at the checkout's root (git ignores it; CNNINTERP_TEST_JAX_CACHE
names another folder, or "off"), and the environment hands it to the subprocesses the tests
start (the TUI in tmux, the four-device run, Ray's workers). JAX keys each entry by the
program, its flags, the backend and jax's version, so a stale entry is never read; the folder
is capped (least recently used entries go first).

The results of every test are cached in a per-session temporary folder, never the user's cache.
Hypothesis draws the same examples every run (derandomized, no example database: no flaky CI,
no .hypothesis/ folder); the fuzz modules set only how many. Widen locally with another seed.
"""

import os
from pathlib import Path

import jax
import pytest
from hypothesis import HealthCheck, settings

from cnninterp.jaxcore.model.model_file import save_model
from cnninterp.jaxcore.model.network import ModelConfig, random_variables

STRICT = {"jax_numpy_rank_promotion": "raise", "jax_numpy_dtype_promotion": "strict"}
CHECKOUT = Path(__file__).resolve().parent.parent
TEST_JAX_CACHE = "CNNINTERP_TEST_JAX_CACHE"
JAX_CACHE_KEEP_BYTES = 4 * 2**30  # pruned to half this at the start when over it

TINY_CONFIG = ModelConfig(width=4)
TINY_SEED = 3


def prune_oldest(folder: Path, limit: int) -> None:
    """Over `limit` bytes, delete the oldest entries until half of it is left. (JAX's own cap,
    jax_compilation_cache_max_size, locks the folder on every read and warns, which this suite
    turns into errors, when an entry is bigger than the cap.)"""
    entries = sorted(
        (entry.stat().st_mtime, entry.stat().st_size, entry)
        for entry in folder.glob("*")
        if entry.is_file()
    )
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, entry in entries:
        if total <= limit // 2:
            break
        entry.unlink(missing_ok=True)
        total -= size


def use_compilation_cache() -> None:
    """Every compilation of the session (and of its subprocesses) kept in one folder."""
    folder = os.environ.get(TEST_JAX_CACHE) or str(CHECKOUT / ".pytest-jax-cache")
    if folder == "off":
        return
    cache = {
        "jax_compilation_cache_dir": folder,
        "jax_persistent_cache_min_compile_time_secs": 0.2,  # not the many trivial programs
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    prune_oldest(Path(folder), JAX_CACHE_KEEP_BYTES)
    for name, value in cache.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)  # read by JAX when a subprocess imports it


for _name, _value in STRICT.items():
    jax.config.update(_name, _value)
use_compilation_cache()

settings.register_profile(
    "cnninterp",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("cnninterp")


# Tests that use one of these are slow by construction (`make test-fast` leaves them out), so a
# new test on them cannot be forgotten in the fast tier. Tests that compile the full-size model
# or start a terminal carry the `slow` marker themselves.
SLOW_FIXTURES = {
    "four": "full passes in a subprocess on four XLA:CPU devices (tests/jaxcore/test_devices.py)",
    "big_folder": "passes over 256x256 images (tests/tui/conftest.py)",
    "ray_session": "a local Ray cluster (tests/export/conftest.py)",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def private_result_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path_factory.mktemp("cnninterp-cache")))
        yield


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """The suite's tiny real model (width 4, random weights) as a model file, written once per
    session: the TUI and export tests open it (the export's `model` is this file), so their
    compilations are shared."""
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    variables = random_variables(TINY_CONFIG, seed=TINY_SEED)
    save_model(path, TINY_CONFIG, variables, {"purpose": "cnninterp's tests"})
    return path
