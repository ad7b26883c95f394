"""Columns of the Jacobian, J[:, :, qy, qx] = d p / d image[qy, qx], by forward mode.

A row (gradients.py) pushes one output pixel back through the whole encoder, and at small
image sizes every encoder level is dense by then. A column pushes one input pixel forward, and
its tangent stays local through the shallow encoder: at most 3 pixels wide after the stem, 6
after block 1 and 6 after block 2, each at its own resolution (derived below). So the stem and
blocks 1-2 run on small windows around the pixel, and only blocks 3-4 and the decoder run on
whole canvases: at 64x64 a column costs 2.0 GFLOP where a row costs 3.0. On the CPU that makes
the full-Jacobian pass faster by columns (benchmarks/RESULTS.md); J is then assembled on the
host, which the exact summaries (up to 128x128) hold anyway.

Supports, for an input pixel q = 4a + r (r in 0..3) along each axis: the stem's 3x3 conv
puts q's tangent on [q-1, q+1]; block 1 (stride-2 convs, then a 3x3) on [2a-2, 2a+3] at half
resolution; block 2 on [a-2, a+3] at quarter resolution: inside linear.py's windows.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from cnninterp.jaxcore.model.network import DEPTH, ModelConfig
from cnninterp.jaxcore.rows.linear import (
    WINDOWS,
    block,
    conv,
    d_p_d_logits,
    paste,
    prepared_masks,
    upconv,
    window,
)


def column(
    config: ModelConfig,
    layers: dict,
    d_p: Float[Array, "H W C"],
    masks: dict,
    qy: Int[Array, ""],
    qx: Int[Array, ""],
) -> Float[Array, "H W"]:
    """d p_vessel / d image[qy, qx] over the whole image; d_p = linear.d_p_d_logits, masks
    from linear.prepared_masks."""
    height, width = d_p.shape[:2]
    a_y, a_x = qy // 4, qx // 4
    start, size = WINDOWS[1]
    tangent = jnp.zeros((1, size, size, 1)).at[0, qy - 4 * a_y - start, qx - 4 * a_x - start].set(1)
    x1 = conv(config, tangent, layers["stem"]) * window(masks["relu"], 1, a_y, a_x)

    def window_masks(n, level):
        return {k: window(v, level, a_y, a_x) for k, v in masks[f"resblock{n}"].items()}

    # x1 window [4a-6, 4a+10) -> x2 window [2a-3, 2a+5): output i reads x1 at 2i-1..2i+1.
    x2 = block(config, x1, layers["resblock1"], window_masks(1, 2))
    # x3 window [a-3, a+5) reads x2 on [2a-7, 2a+9]: the x2 window padded by 4 low, 5 high.
    x2_wide = jnp.pad(x2, ((0, 0), (4, 5), (4, 5), (0, 0)))
    x3 = block(config, x2_wide, layers["resblock2"], window_masks(2, 3), ((0, 0), (0, 0)))
    skips = [paste(x, level, a_y, a_x, height, width) for x, level in ((x1, 1), (x2, 2), (x3, 3))]
    for n in range(3, DEPTH + 1):  # whole canvases from here on
        skips.append(block(config, skips[-1], layers[f"resblock{n}"], masks[f"resblock{n}"]))
    y = skips.pop()
    for k in range(1, DEPTH + 1):
        y = upconv(config, y, layers[f"upconv{k}"]) + skips.pop()
    logits = conv(config, y, layers["final"])[0]  # (H, W, C) tangent
    return (logits * d_p).sum(-1)


def columns(config, layers, probs, masks, qys, qxs) -> Float[Array, "N H W"]:
    """The columns of the input pixels (qys[i], qxs[i]); masks as the forward pass sowed them."""
    d_p = d_p_d_logits(config, probs)
    masks = prepared_masks(masks, probs.dtype)

    def one(qy, qx):
        return column(config, layers, d_p, masks, qy, qx)

    return jax.vmap(one)(qys, qxs)
