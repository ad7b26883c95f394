"""Suite-wide: results are cached in a per-session temporary folder, never the user's cache."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_result_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNINTERP_CACHE_DIR", str(tmp_path_factory.mktemp("cnninterp-cache")))
        yield
