"""The full pass's chunk functions and their host-side bookkeeping.

A chunk function takes the image's forward results and one chunk of offsets (colours, single
pixels or input pixels) and returns host-bound summaries; `PassFunction` binds one for the
first device and, on demand, as one program over every device; `PassKernels` holds every
chunk function of one model so bound. `members` and `left_to_do` are the NumPy side: which
pixels a chunk of colours covers, and what a resumed pass skips.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cnninterp.jaxcore.model.seam import SegmentationModel
from cnninterp.jaxcore.passes.binding import bind_model
from cnninterp.jaxcore.passes.devices import DeviceSpread
from cnninterp.jaxcore.rows import columns, crops, gradients, linear
from cnninterp.jaxcore.rows.kit import row_kit
from cnninterp.jaxcore.summaries.significance import BINS_PER_DECADE, EDGES


class PassFunction:
    """A chunk function of the full pass: called as f(probs, masks, ys, xs, *extras) on the
    first device; `spread_program` builds (once) its one program over every device."""

    def __init__(self, single, make_spread, extras: tuple = (), programs: dict | None = None):
        self._single = single
        self._make_spread = make_spread
        self._extras = extras
        self._programs = {} if programs is None else programs  # shared by with_extras' copies

    def __call__(self, probs, masks, offsets_y, offsets_x):
        return self._single(probs, masks, offsets_y, offsets_x, *self._extras)

    def with_extras(self, *extras) -> "PassFunction":
        """The same function with further inputs after the offsets (replicated when spread)."""
        return PassFunction(self._single, self._make_spread, extras, self._programs)

    def spread_program(self) -> tuple[Callable, tuple]:
        """(program over every device, the extra inputs it takes after the forward results)."""
        count = len(self._extras)
        if count not in self._programs:
            self._programs[count] = self._make_spread(extras=count)
        program = self._programs[count]
        extras = self._extras

        def reordered(probs, masks, *rest):  # extras follow the offsets, as on one device
            *extra_inputs, offsets_y, offsets_x = rest
            return program(probs, masks, offsets_y, offsets_x, *extra_inputs)

        return (reordered if count else program), extras


@dataclass
class PassKernels:
    """Every chunk function of the full passes, bound to one model and its devices. Each is
    called as f(probs, masks, offsets_y, offsets_x) and returns host-bound summaries; tests
    may replace one (a spy, a simulated failure)."""

    exact_summaries: PassFunction
    """Colours: rows and sorted magnitudes (exact sizes)."""
    histogram_summaries: PassFunction
    """Colours: histogram summaries (significance.py)."""
    crop_summaries: PassFunction
    """Pixels on crops: histogram summaries."""
    crop_summaries_kept: PassFunction
    """Pixels on crops: histogram summaries and the crop rows, for the cursor."""
    counts: PassFunction
    """Colours: exact counts above per-pixel thresholds (an extra input)."""
    crop_counts: PassFunction
    """Pixels on crops: exact counts above per-pixel thresholds (an extra input)."""
    columns: PassFunction
    """Input pixels: columns of J (forward mode, columns.py)."""

    colour_spacing: int = gradients.COLOUR_SPACING
    """Members of a colour lie this far apart (the model's: rows/kit.py)."""
    on_crops: bool = True
    """Whether the crop functions exist for this model (the seed's only, so far)."""
    by_columns: bool = True
    """Whether the column function exists for this model (the seed's only, so far)."""

    @classmethod
    def bound(
        cls, model: SegmentationModel, spread: DeviceSpread | None = None, *, constants: bool
    ) -> "PassKernels":
        """Each chunk function of `model` bound as binding.bind_model binds (`constants`: the
        parameters as compile-time constants) for the first device and, with a DeviceSpread of
        several devices, as one program over all of them. Colour chunks take the model's
        colour rows (rows/kit.py); crops and columns exist for the seed only."""
        bind = bind_model(model, constants=constants)
        kit = row_kit(model)
        config, variables = kit.static, model.params

        def kernel(f) -> PassFunction:
            make_spread = None
            if spread is not None and len(spread) > 1:
                make_spread = partial(spread.program, f, config, variables, constants=constants)
            return PassFunction(bind(f), make_spread)

        colours = {"colour_rows": kit.colour_rows, "spacing": kit.colour_spacing}
        unavailable = kernel(_unavailable)
        return cls(
            exact_summaries=kernel(partial(exact_summaries, **colours)),
            histogram_summaries=kernel(partial(histogram_summaries, **colours)),
            crop_summaries=kernel(crops.pass_summaries) if kit.crops else unavailable,
            crop_summaries_kept=(
                kernel(partial(crops.pass_summaries, keep_rows=True)) if kit.crops else unavailable
            ),
            counts=kernel(partial(chunk_counts, **colours)),
            crop_counts=kernel(crops.counts_on_crops) if kit.crops else unavailable,
            columns=kernel(column_chunk) if kit.columns else unavailable,
            colour_spacing=kit.colour_spacing,
            on_crops=kit.crops,
            by_columns=kit.columns,
        )


def _unavailable(*args):
    raise NotImplementedError("this model has no such chunk function (rows/kit.py)")


def left_to_do(
    order: np.ndarray, done: np.ndarray, pixelwise: bool, spacing: int = gradients.COLOUR_SPACING
) -> tuple[np.ndarray, int]:
    """(order without what `done` already holds, how many entries were dropped). Entries are
    pixels when `pixelwise`, else colour offsets `spacing` apart, done when all their members
    are."""
    if not done.any():
        return order, 0
    if pixelwise:
        todo = ~done[order[:, 0], order[:, 1]]
    else:
        height, width = done.shape
        ys, xs, valid = members(order[:, 0], order[:, 1], height, width, spacing)
        members_done = done[np.where(valid, ys, 0), np.where(valid, xs, 0)] | ~valid
        todo = ~members_done.all(axis=1)
    return order[todo], int((~todo).sum())


def members(offsets_y, offsets_x, height, width, spacing: int = gradients.COLOUR_SPACING):
    """NumPy twin of gradients.colour_members for a chunk: ys, xs, valid, each (N, G)."""
    i, j = np.meshgrid(
        np.arange(-(-height // spacing)), np.arange(-(-width // spacing)), indexing="ij"
    )
    ys = np.asarray(offsets_y)[:, None] + spacing * i.ravel()[None, :]
    xs = np.asarray(offsets_x)[:, None] + spacing * j.ravel()[None, :]
    return ys, xs, (ys < height) & (xs < width)


def column_chunk(config, variables, probs, masks, qys, qxs):
    """Columns of J for a chunk of input pixels: (N, H, W)."""
    layers = linear.folded_layers(config, variables)
    return {"columns": columns.columns(config, layers, probs, masks, qys, qxs)}


def colour_chunk(colour_rows, config, variables, probs, masks, offsets_y, offsets_x):
    """Rows of a chunk of colours: (N, G, H, W) and validity (N, G)."""
    colour = partial(colour_rows, config, variables, probs, masks)
    return jax.vmap(colour)(offsets_y, offsets_x)


def sorted_rows(colour_rows, config, variables, probs, masks, offsets_y, offsets_x):
    rows, _ = colour_chunk(colour_rows, config, variables, probs, masks, offsets_y, offsets_x)
    n_colours, members, height, width = rows.shape
    flat = rows.reshape(n_colours, members, height * width)  # (N, G, H*W)
    ascending = jnp.sort(jnp.abs(flat), axis=-1)
    maxima = {"row_max_abs": ascending[..., -1], "row_max_signed": flat.max(axis=-1)}
    return rows, ascending, maxima


def exact_summaries(config, variables, probs, masks, offsets_y, offsets_x, *, colour_rows, spacing):
    """The rows and their sorted magnitudes (small images)."""
    chunk = (config, variables, probs, masks, offsets_y, offsets_x)
    rows, ascending, out = sorted_rows(colour_rows, *chunk)
    return out | {"rows": rows, "sorted_abs": ascending}


def histogram_summaries(
    config, variables, probs, masks, offsets_y, offsets_x, *, colour_rows, spacing
):
    """Counts above log-spaced edges below each row's max (see significance.py)."""
    chunk = (config, variables, probs, masks, offsets_y, offsets_x)
    rows, ascending, out = sorted_rows(colour_rows, *chunk)
    height, width = rows.shape[-2:]
    steps = jnp.arange(EDGES, dtype=jnp.float32) / BINS_PER_DECADE
    edges = ascending[..., -1:] * jnp.power(10.0, -steps)[None, None, :]  # (N, G, E)
    search = jax.vmap(jax.vmap(partial(jnp.searchsorted, side="right")))
    above = height * width - search(ascending, edges)
    nonzero = height * width - search(ascending, jnp.zeros_like(edges[..., :1]))
    out["edges"] = edges
    out["above_edges"] = jnp.concatenate([above, nonzero], axis=-1).astype(jnp.int32)
    return out


def chunk_counts(
    config, variables, probs, masks, offsets_y, offsets_x, thresholds, *, colour_rows, spacing
):
    """Exact #(|G| > threshold of its pixel) for every row of a chunk."""
    chunk = (config, variables, probs, masks, offsets_y, offsets_x)
    rows, _ = colour_chunk(colour_rows, *chunk)
    height, width = rows.shape[-2:]
    members = jax.vmap(gradients.colour_members, (0, 0, None, None, None))
    ys, xs, _ = members(offsets_y, offsets_x, height, width, spacing)
    t = thresholds[jnp.clip(ys, 0, height - 1), jnp.clip(xs, 0, width - 1)]  # (N, G)
    return {"counts": (jnp.abs(rows) > t[..., None, None]).sum(axis=(-2, -1)).astype(jnp.float32)}
