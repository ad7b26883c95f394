"""Pure functions for gradient rows of the vessel probability, G_yx = d p[y, x] / d image.

The network is piecewise linear (model.py), so one forward pass per image records its ReLU
masks, and every row is then a backward pass of the *masked* network: no activations are
stored and the weights can be compile-time constants, which XLA:CPU runs about 2x faster than
weights passed as arguments (benchmarks/RESULTS.md). Pixels are traced arguments, so one
compilation serves every pixel of an image size.

Receptive-field colouring: an output pixel sees at most RF_RADIUS pixels each way, so rows
of pixels COLOUR_SPACING apart have disjoint supports. One backward pass with their summed
cotangents yields all of them, separated again by masking each pixel's window.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from cnninterp.jaxcore.model import ModelConfig, VesselCNN

RF_RADIUS = 62  # proven in tests/jaxcore/test_gradients.py::test_receptive_field_radius
COLOUR_SPACING = 128  # > 2 * RF_RADIUS + 1, and a multiple of 16 keeps the stride phase
WINDOW = COLOUR_SPACING // 2  # pixel u belongs to the member with u - y in [-WINDOW, WINDOW)


def forward(config: ModelConfig, variables: dict, image: Float[Array, "H W"]):
    """(class probabilities [H, W, C], ReLU masks) of one image."""
    logits, state = VesselCNN(config).apply(
        variables, image[None, :, :, None], mutable=["relu_masks"]
    )
    return jax.nn.softmax(logits[0], axis=-1), state["relu_masks"]


def logit_cotangent(
    config: ModelConfig, probs: Float[Array, "H W C"], y: Int[Array, ""], x: Int[Array, ""]
) -> Float[Array, "H W C"]:
    """d p_vessel[y, x] / d logits: nonzero at (y, x) only, p_v * (onehot_v - p)."""
    p = probs[y, x]  # (C,)
    local = p[config.vessel_class] * (jax.nn.one_hot(config.vessel_class, p.shape[0]) - p)
    return jnp.zeros_like(probs).at[y, x].set(local)


def pull_back(
    config: ModelConfig, variables: dict, masks: dict, cotangent: Float[Array, "H W C"]
) -> Float[Array, "H W"]:
    """Cotangent on the logits -> gradient on the image, through the masked network."""
    net = VesselCNN(config)

    def masked_logits(image):
        return net.apply(variables, image[None, :, :, None], relu_masks=masks)[0]

    # The masked network is affine, so its forward values are dead code XLA removes.
    _, pullback = jax.vjp(masked_logits, jnp.zeros(cotangent.shape[:2], cotangent.dtype))
    return pullback(cotangent)[0]


def gradient_row(config, variables, probs, masks, y, x) -> Float[Array, "H W"]:
    return pull_back(config, variables, masks, logit_cotangent(config, probs, y, x))


def colour_members(offset_y, offset_x, height: int, width: int):
    """The pixels sharing one colour: offset + COLOUR_SPACING * (i, j), with validity.

    Returns ys, xs: int [G] and valid: bool [G], G = ceil(H / S) * ceil(W / S).
    """
    gy, gx = -(-height // COLOUR_SPACING), -(-width // COLOUR_SPACING)
    i, j = jnp.meshgrid(jnp.arange(gy), jnp.arange(gx), indexing="ij")
    ys = (offset_y + COLOUR_SPACING * i).ravel()
    xs = (offset_x + COLOUR_SPACING * j).ravel()
    return ys, xs, (ys < height) & (xs < width)


def colour_rows(
    config, variables, probs, masks, offset_y, offset_x
) -> tuple[Float[Array, "G H W"], Bool[Array, " G"]]:
    """All rows of one colour from a single backward pass."""
    height, width = probs.shape[:2]
    ys, xs, valid = colour_members(offset_y, offset_x, height, width)
    cotangents = jax.vmap(lambda y, x: logit_cotangent(config, probs, y, x))(ys, xs)
    summed = (cotangents * valid[:, None, None, None]).sum(axis=0)
    combined = pull_back(config, variables, masks, summed)  # (H, W)
    if ys.shape[0] == 1:
        return combined[None], valid
    rows_u = jnp.arange(height)[None, :] - ys[:, None]  # (G, H)
    cols_u = jnp.arange(width)[None, :] - xs[:, None]  # (G, W)
    in_y = (rows_u >= -WINDOW) & (rows_u < WINDOW)
    in_x = (cols_u >= -WINDOW) & (cols_u < WINDOW)
    window = in_y[:, :, None] & in_x[:, None, :]  # (G, H, W)
    return jnp.where(window, combined[None], 0.0), valid
