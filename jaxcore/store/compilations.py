"""JAX's persistent compilation cache, in cnninterp's cache folder.

Measured for the full-size model at 64x64 (benchmarks/RESULTS.md): on the CPU, where the
weights are compile-time constants, the executables are 333 MB and writing them made the first
start 26 s instead of 9.5 s, for a second start of 5.8 s; so there it is opt-in
(CNNINTERP_COMPILATION_CACHE=1). On GPUs the weights are arguments and the executables small,
so it is on. Front ends call this once, before the first compilation.
"""

import os

import jax

from cnninterp.jaxcore.store.results import cache_root

ENV_VAR = "CNNINTERP_COMPILATION_CACHE"


def enable_compilation_cache() -> bool:
    """Point JAX at <cache>/xla where it pays off (or is asked for); True if enabled."""
    wanted = os.environ.get(ENV_VAR)
    if wanted == "0" or (wanted != "1" and jax.default_backend() == "cpu"):
        return False
    folder = cache_root() / "xla"
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return True
