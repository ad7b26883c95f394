"""Rows computed on crops, kept so that the cursor finds them ready.

A pass on crops (crops.py) computes every row it summarises anyway. When it follows the user's
cursor (order.py), the rows it computes are those the user is about to look at: keeping
the last few thousand of them (their crops, 64 KiB each at full size), and the rows the cursor
asked for itself, turns a cursor move onto one of them from a backward pass (100-120 ms on a
2-core CPU) into a paste.
"""

import threading
from collections import OrderedDict

import numpy as np

KEPT_ROWS_BYTES = 128 * 2**20
"""How much memory the kept crops may take: 2048 crop rows of 128x128."""


class KeptRows:
    """A thread-safe, least-recently-used store of crop rows by (image key, y, x)."""

    def __init__(self, budget_bytes: int = KEPT_ROWS_BYTES):
        self.budget_bytes = budget_bytes
        self._rows: OrderedDict[tuple[str, int, int], tuple[np.ndarray, int, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def put(self, image: str, ys, xs, crop_rows: np.ndarray, origins_y, origins_x) -> None:
        """Keep crop_rows[i] (float32 [h, w], starting at (origins_y[i], origins_x[i]) on the
        image) as the row of pixel (ys[i], xs[i]) of `image`."""
        with self._lock:
            for y, x, row, oy, ox in zip(ys, xs, crop_rows, origins_y, origins_x, strict=True):
                key = (image, int(y), int(x))
                if key in self._rows:
                    self._rows.move_to_end(key)
                    continue
                row = np.array(row, np.float32)  # a copy: the chunk's buffer is not held
                self._rows[key] = (row, int(oy), int(ox))
                self._bytes += row.nbytes
            while self._bytes > self.budget_bytes and self._rows:
                row, _, _ = self._rows.popitem(last=False)[1]
                self._bytes -= row.nbytes

    def paste(self, image: str, y: int, x: int, out: np.ndarray) -> bool:
        """Write the kept row of (y, x) into `out` (float32 [H, W], zeros outside the crop);
        False, leaving `out` untouched, if it is not kept."""
        with self._lock:
            kept = self._rows.get((image, y, x))
            if kept is None:
                return False
            self._rows.move_to_end((image, y, x))
        row, oy, ox = kept
        out[...] = 0.0
        out[oy : oy + row.shape[0], ox : ox + row.shape[1]] = row
        return True
