"""The persistent compilation cache: off by default on the CPU, on when asked, in our folder."""

import jax

from cnninterp.jaxcore.store.compilations import ENV_VAR, enable_compilation_cache


def test_off_on_the_cpu_unless_asked(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert jax.default_backend() == "cpu"
    assert not enable_compilation_cache()


def test_on_when_asked_inside_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, "1")
    monkeypatch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path))
    previous = jax.config.jax_compilation_cache_dir
    try:
        assert enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
        assert (tmp_path / "xla").is_dir()
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
