"""The index maps of the ops that move positions, computed with NumPy exactly as PyTorch
computes them: pooling windows, adaptive bins, nearest and bilinear resizing, padding and
slicing. The interpreter (interpreter.py) applies them to values; the receptive field walk
(graph_field.py) reads from them which input positions each output position depends on, so
both agree by construction.
"""

import numpy as np


def pair(value) -> tuple[int, int]:
    """(height, width) of a PyTorch size argument given once or per axis."""
    return (value[0], value[0]) if len(value) == 1 else (value[0], value[1])


def pooled_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's output length of a pooling window over n positions."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def avg_pool_divisors(n: int, k: int, s: int, p: int, out: int, include_pad: bool) -> np.ndarray:
    """PyTorch's divisor of each output position along one axis."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, n) - np.maximum(start, 0)).astype(np.float64)


def adaptive_matrix(n: int, out: int) -> np.ndarray:
    """[out, n] averaging over PyTorch's adaptive bins [floor(i n / out), ceil((i+1) n / out))."""
    matrix = np.zeros((out, n))
    for i in range(out):
        start, end = (i * n) // out, -(-((i + 1) * n) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def nearest_indices(n: int, out: int, scale_factor: float | None) -> np.ndarray:
    """PyTorch's 'nearest' source index per output position (its float32 arithmetic)."""
    if out == n:
        return np.arange(out)
    if out == 2 * n:
        return np.arange(out) // 2
    scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n) / np.float32(out)
    source = np.floor(np.arange(out).astype(np.float32) * scale).astype(np.int64)
    return np.minimum(source, n - 1)


def bilinear_matrix(n: int, out: int, align_corners: bool, scale_factor: float | None):
    """[out, n] interpolation weights as PyTorch's upsample_bilinear2d computes them."""
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        source = dst * ((n - 1) / (out - 1) if out > 1 else 0.0)
    else:
        scale = 1.0 / scale_factor if scale_factor else n / out
        source = np.maximum(scale * (dst + 0.5) - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), n - 1)
    high = np.minimum(low + 1, n - 1)
    weight = source - low
    matrix = np.zeros((out, n))
    np.add.at(matrix, (np.arange(out), low), 1.0 - weight)
    np.add.at(matrix, (np.arange(out), high), weight)
    return matrix


def pad_indices(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded position along one axis; -1 where the constant goes."""
    source = np.arange(-before, n + after)
    if mode == "constant":
        return np.where((source >= 0) & (source < n), source, -1)
    if mode == "reflect":
        period = 2 * (n - 1)
        source = np.abs(np.mod(source, period)) if period else np.zeros_like(source)
        return np.where(source >= n, period - source, source)
    if mode == "replicate":
        return np.clip(source, 0, n - 1)
    if mode == "circular":
        return np.mod(source, n)
    raise ValueError(f"pad mode {mode!r} is not supported")


def slice_indices(n: int, start, end, step: int) -> np.ndarray:
    """The positions self[start:end:step] keeps along a dim of n (Python's clamping)."""
    return np.arange(n)[slice(start, end, step)]
