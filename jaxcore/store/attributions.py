"""Attributions on disk, beside the result cache: an IG of 32 steps costs 32 backward passes,
a SmoothGrad of 16 samples 16, so asking again for the same one should cost a file read.

The machinery is store/results.py's: the same root ($CNNINTERP_CACHE_DIR, else the user cache),
the same model and image identities, atomic writes, stale temporaries swept, and every load
checked (stored key, shape, dtype, finiteness) with an untrusted entry deleted and recomputed.
An image of several channels keeps its per-channel maps beside their sum (`channels`).
The key adds what an attribution depends on beyond the full pass's: the method with the
parameters that matter (Method.key) and the target (Target.key). A plain gradient row is not
stored: it is cheaper to compute than to read back.
"""

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from cnninterp.jaxcore.explain.attribution import Attribution
from cnninterp.jaxcore.explain.methods import Method
from cnninterp.jaxcore.explain.targets import Target
from cnninterp.jaxcore.files.disk import sweep_stale_temporaries, write_atomically
from cnninterp.jaxcore.store.results import cache_root, image_sha256, model_identity

ATTRIBUTION_FORMAT = 1
"""Bump when the stored layout or the meaning of an attribution changes."""
STALE_TEMPORARIES = ".*.npz.*.tmp"

log = logging.getLogger(__name__)


def attribution_key(explainer, pixels, method: Method, target: Target) -> str:
    """64 hex digits naming this model's attribution of this target by this method."""
    identity = {
        "format": ATTRIBUTION_FORMAT,
        "model": model_identity(explainer),
        "image": image_sha256(pixels),
        "method": method.key(),
        "target": target.key(),
        "config": explainer.description,
        "weights_as_constants": explainer.weights_as_constants,
        "platform": explainer.device.platform,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class AttributionCache:
    """One .npz per attribution under `<root>/attributions/`."""

    def __init__(self, root: Path | str | None = None, enabled: bool = True):
        self.folder = cache_root(root) / "attributions"
        self.enabled = enabled
        if enabled:
            sweep_stale_temporaries(self.folder, STALE_TEMPORARIES)

    def load(self, key: str, method: Method, target: Target, shape) -> Attribution | None:
        """The stored attribution of an image of this shape ([H, W], or [H, W, C]: with its
        per-channel maps), or None (a miss, or an entry that failed a check)."""
        path = self.folder / f"{key}.npz"
        if not self.enabled or not path.is_file():
            return None
        try:
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                if str(npz["key"]) != key:
                    raise ValueError("stored key differs from its file name")
                summary = json.loads(str(npz["summary"]))
                values = npz["values"]
                channels = npz["channels"] if len(shape) == 3 else None
            if values.shape != tuple(shape[:2]) or values.dtype != np.float32:
                raise ValueError(f"values are {values.dtype} {values.shape}")
            if not np.isfinite(values).all():
                raise ValueError("values are not finite")
            if channels is not None:
                if channels.shape != (shape[2], *shape[:2]) or channels.dtype != np.float32:
                    raise ValueError(f"channels are {channels.dtype} {channels.shape}")
                if not np.array_equal(channels.sum(axis=0), values):
                    raise ValueError("values are not the sum of the channels")
            return Attribution(
                values,
                method,
                target,
                float(summary["target_value"]),
                summary["baseline_value"],
                summary["completeness_error"],
                channels,
            )
        except Exception as exc:  # zip, numpy and JSON fail in many ways: all mean corrupt
            log.warning("attribution cache entry %s discarded: %s", path.name, exc)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache: computed, just not stored
            return None

    def store(self, key: str, attribution: Attribution) -> bool:
        """Write it atomically; a cache that cannot be written is logged, not raised."""
        if not self.enabled:
            return False
        summary = {
            "target_value": attribution.target_value,
            "baseline_value": attribution.baseline_value,
            "completeness_error": attribution.completeness_error,
        }
        arrays = {
            "key": np.array(key),
            "summary": np.array(json.dumps(summary)),
            "values": np.ascontiguousarray(attribution.values, np.float32),
        }
        if attribution.channels is not None:
            arrays["channels"] = np.ascontiguousarray(attribution.channels, np.float32)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(self.folder / f"{key}.npz", write)
        except OSError as exc:
            log.warning("cannot write attribution cache entry %s: %s", key, exc)
            return False
        return True
