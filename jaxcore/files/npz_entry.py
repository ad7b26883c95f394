"""Reading a cache entry's .npz with every structural check: the checks the complete entries
(cache.py) and the partial ones (partial_entries.py) share. Each raises the caller's error
type, whose message says what was wrong."""

import json

import numpy as np


def entry_meta(npz, key: str, error: type[Exception]) -> dict:
    """The entry's meta, once its key and meta are there and the key is the file's."""
    if not {"key", "meta"} <= set(npz.files):
        raise error("key or meta missing")
    if str(npz["key"]) != key:
        raise error("stored key differs from its file name")
    return json.loads(str(npz["meta"]))


def entry_shape(meta: dict, summary_kind, error: type[Exception]) -> tuple[int, int, str]:
    """(height, width, summary kind) of the meta, the kind the one that size has."""
    height, width = (int(s) for s in meta["shape"])
    kind = meta["summary"]
    if height <= 0 or width <= 0 or kind != summary_kind(height, width):
        raise error(f"shape {height}x{width} with summary {kind!r}")
    return height, width, kind


def entry_arrays(npz, expected: dict, error: type[Exception]) -> dict:
    """The arrays `expected` names ({name: (shape, dtype)}), exactly those, each of its shape
    and dtype; reading each to its end checks its member's CRC-32."""
    names = set(npz.files)
    if names != {"key", "meta", *expected}:
        raise error(f"arrays {sorted(names)}")
    arrays = {}
    for name, (shape, dtype) in expected.items():
        array = npz[name]
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise error(f"{name} is {array.dtype} {array.shape}")
        arrays[name] = array
    return arrays
