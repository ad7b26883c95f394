"""The persistent compilation cache: off by default on the CPU, on by default elsewhere, on or
off when asked, in our folder; and a compilation written there is read back, on any backend.

The policy is checked with the backend stood in for (the same answers on a GPU host as on a
CPU one); that the cache works is checked in a fresh interpreter, whose compilation cache is
still unused (this process's is the suite's, see tests/conftest.py)."""

import json
import os
import subprocess
import sys

import jax
import pytest

from cnninterp.jaxcore.store.compilations import ENV_VAR, enable_compilation_cache

CONFIG_NAMES = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")


@pytest.fixture
def jax_config_kept():
    """enable_compilation_cache changes JAX's global config: put it back afterwards."""
    previous = {name: getattr(jax.config, name) for name in CONFIG_NAMES}
    yield
    for name, value in previous.items():
        jax.config.update(name, value)


@pytest.mark.parametrize(
    ("backend", "asked", "enabled"),
    [
        ("cpu", None, False),  # executables with the weights as constants are hundreds of MB
        ("gpu", None, True),
        ("tpu", None, True),
        ("cpu", "1", True),
        ("gpu", "1", True),
        ("cpu", "0", False),
        ("gpu", "0", False),
    ],
)
def test_on_where_it_pays_off_or_when_asked(
    monkeypatch, tmp_path, jax_config_kept, backend, asked, enabled
):
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    if asked is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, asked)
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path))
    before = jax.config.jax_compilation_cache_dir

    assert enable_compilation_cache() == enabled
    if enabled:
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
        assert (tmp_path / "xla").is_dir()
    else:
        assert jax.config.jax_compilation_cache_dir == before
        assert not (tmp_path / "xla").exists()


# A fresh interpreter: enable the cache as the front ends do, compile, forget every compiled
# function in memory, compile again, and count what JAX read from and wrote to the cache.
PROBE = """
import json, jax, jax.numpy as jnp
from cnninterp.jaxcore.store.compilations import enable_compilation_cache
enabled = enable_compilation_cache()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # keep even a quick one
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
f = jax.jit(lambda x: jnp.tanh(x) @ x.T + 1.0)
first = f(jnp.ones((8, 8))).tolist()
jax.clear_caches()
second = f(jnp.ones((8, 8))).tolist()
print(json.dumps({"enabled": enabled, "same": first == second, "events": events,
                  "backend": jax.default_backend()}))
"""


def test_a_compilation_is_written_to_our_folder_and_read_back(tmp_path):
    env = os.environ | {ENV_VAR: "1", "CNNINTERP_CACHE_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["enabled"] and found["same"]
    assert any((tmp_path / "xla").iterdir())  # written in our folder, nowhere else
    hits = found["events"].count("/jax/compilation_cache/cache_hits")
    assert hits >= 1, found  # the second compilation came from the cache
