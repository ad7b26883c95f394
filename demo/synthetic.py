"""Synthetic fluorescence images of cortical vessels, with exact labels, from a seed.

The bundled demo cannot ship VessMAP, so it trains on these. They are made to look like
VessMAP (two-photon images of mouse cortex, 8-bit, mostly dark): curved, branching tubes
1-5 px in radius whose brightness varies between and along vessels, a few bright cell bodies
on the walls, faint out-of-focus vessels that are *not* labelled, a smooth background haze,
optical blur and shot/read noise, quantised to 8 bits.

The label is exact by construction: a pixel is vessel when its centre lies within the local
radius of a labelled centre line. Everything after that (blur, haze, noise) only touches
the image. The scale is fixed in pixels, as in VessMAP, so a 64x64 image looks like a crop of
a 256x256 one rather than a shrunken one.

Pure numpy + scipy, one `numpy.random.Generator` per call: the same seed and size give
bit-identical arrays on every platform numpy supports.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Vessel:
    """One sampled centre line: points every STEP pixels with a radius and brightness each."""

    yx: np.ndarray
    """float [N, 2] centre-line points (may leave the image)."""
    radius: np.ndarray
    """float [N] radius in pixels."""
    brightness: np.ndarray
    """float [N] peak intensity above background, before the global gain."""


STEP = 0.5  # centre-line sampling in pixels; under half the smallest radius, so no gaps
MIN_SIZE, MAX_SIZE = 16, 512  # sizes the generator accepts (the demo uses 64..256)


def _walk(rng: np.random.Generator, start, angle, radius, length, brightness) -> Vessel:
    """A smooth random walk: the heading turns at a slowly varying, bounded rate."""
    n = max(int(length / STEP), 2)
    # Low-pass noise as the turn rate: gentle bends over tens of pixels, never curls.
    turn = ndimage.gaussian_filter1d(rng.normal(size=n), rng.uniform(10, 40), mode="nearest")
    turn *= rng.uniform(0.004, 0.02) / (turn.std() + 1e-12)  # radians per step
    heading = angle + np.cumsum(turn)
    steps = STEP * np.stack([np.sin(heading), np.cos(heading)], axis=1)  # (N, 2)
    yx = np.asarray(start, float) + np.cumsum(steps, axis=0)
    # Tortuosity: a short-wavelength sideways wiggle that does not change the overall course.
    wiggle = ndimage.gaussian_filter1d(rng.normal(size=n), rng.uniform(3, 8), mode="nearest")
    wiggle *= rng.uniform(0.0, 0.8) / (wiggle.std() + 1e-12)  # pixels
    normal = np.stack([np.cos(heading), -np.sin(heading)], axis=1)  # (N, 2), unit, sideways
    yx += wiggle[:, None] * normal
    # Slow modulation of calibre and brightness along the vessel, as in the real images.
    phase = rng.uniform(0, 2 * np.pi, 2)
    s = np.arange(n) * STEP
    r = radius * (1 + 0.18 * np.sin(s / rng.uniform(8, 25) + phase[0]))
    b = brightness * (1 + 0.3 * np.sin(s / rng.uniform(10, 40) + phase[1]))
    return Vessel(yx, np.maximum(r, 0.7), np.maximum(b, 0.05))


def _vessel_tree(rng: np.random.Generator, h: int, w: int) -> list[Vessel]:
    """Vessels crossing the field, each with a few thinner side branches (one level deep)."""
    n_trunks = max(1, rng.poisson(h * w / 256**2 * rng.uniform(13, 32)))
    vessels = []
    for _ in range(n_trunks):
        radius = rng.choice([rng.uniform(1.0, 1.8), rng.uniform(1.8, 4.5)], p=[0.6, 0.4])
        trunk = _walk(
            rng, (0.0, 0.0), rng.uniform(0, 2 * np.pi), radius,
            rng.uniform(60, 260), rng.uniform(0.5, 1.0),
        )  # fmt: skip
        # Centre the trunk on a point of the field, so every trunk is seen in the image.
        centre = rng.uniform([0, 0], [h, w])
        trunk = Vessel(
            trunk.yx - trunk.yx[len(trunk.yx) // 2] + centre, trunk.radius, trunk.brightness
        )
        vessels.append(trunk)
        for _ in range(rng.poisson(len(trunk.yx) * STEP / 35)):
            i = int(rng.integers(0, len(trunk.yx) - 1))
            d = trunk.yx[min(i + 1, len(trunk.yx) - 1)] - trunk.yx[max(i - 1, 0)]
            angle = np.arctan2(d[0], d[1]) + rng.choice([-1, 1]) * rng.uniform(0.5, 1.4)
            r = min(trunk.radius[i] * rng.uniform(0.5, 0.9), rng.uniform(0.8, 2.0))
            b = trunk.brightness[i] * rng.uniform(0.6, 1.1)
            vessels.append(_walk(rng, trunk.yx[i], angle, r, rng.uniform(15, 90), b))
    return vessels


def _render(vessels: list[Vessel], h: int, w: int, labelled: bool):
    """Tube intensity (max over vessels) and, when labelled, the exact mask, [H, W] each."""
    tube = np.zeros((h, w))
    mask = np.zeros((h, w), bool)
    for v in vessels:
        inside = (v.yx[:, 0] > -6) & (v.yx[:, 0] < h + 6) & (v.yx[:, 1] > -6) & (v.yx[:, 1] < w + 6)
        for (cy, cx), r, b in zip(
            v.yx[inside], v.radius[inside], v.brightness[inside], strict=True
        ):
            reach = int(np.ceil(r + 1))
            y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 2, h)
            x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 2, w)
            if y0 >= y1 or x0 >= x1:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1]
            d2 = (yy - cy) ** 2 + (xx - cx) ** 2  # squared distance of pixel centres
            # A filled tube seen from above: brighter on the axis, soft at the wall.
            profile = b * np.sqrt(np.clip(1 - d2 / (r + 0.5) ** 2, 0, 1)) ** 0.6
            np.maximum(tube[y0:y1, x0:x1], profile, out=tube[y0:y1, x0:x1])
            if labelled:
                mask[y0:y1, x0:x1] |= d2 <= r * r
    return tube, mask


def _haze(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Smooth random field in about [-1, 1]: uneven illumination and out-of-focus glow."""
    field = ndimage.gaussian_filter(rng.normal(size=(h, w)), sigma, mode="wrap")
    field -= field.mean()
    return field / (field.std() * 3 + 1e-12)


def synthetic_vessels(seed: int, size: int | tuple[int, int] = 64) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 [H, W] in [0, 1] on the 8-bit grid, label bool [H, W]) for a seed."""
    h, w = (size, size) if isinstance(size, int) else size
    if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
        raise ValueError(f"size must be between {MIN_SIZE} and {MAX_SIZE}, got {h}x{w}")
    rng = np.random.default_rng([seed, h, w])

    tube, label = _render(_vessel_tree(rng, h, w), h, w, labelled=True)
    # Deeper, out-of-focus vessels: faint, blurred and unlabelled, as in the real data.
    deep, _ = _render(_vessel_tree(rng, h, w)[: rng.integers(0, 6)], h, w, labelled=False)
    deep = ndimage.gaussian_filter(deep, rng.uniform(2.0, 3.5)) * rng.uniform(0.1, 0.35)

    # Bright cell bodies (pericytes, nuclei) sitting on vessel walls.
    cells = np.zeros((h, w))
    ys, xs = np.nonzero(label)
    for k in rng.choice(len(ys), size=min(len(ys), rng.poisson(h * w / 9000)), replace=False):
        cells[ys[k], xs[k]] = rng.uniform(3, 8)
    cells = ndimage.gaussian_filter(cells, 1.2)

    # Vessel contrast, log-uniform: many VessMAP images are dark and flat, a few are bright.
    gain = np.exp(rng.uniform(np.log(0.06), np.log(0.45)))
    background = rng.uniform(0.02, 0.25)
    haze = background * (1 + 0.3 * _haze(rng, h, w, rng.uniform(15, 40)))
    # Vessel walls are not uniform: a fine multiplicative texture along the lumen.
    texture = 1 + 0.25 * _haze(rng, h, w, 1.0)
    signal = gain * (tube * texture + cells + deep)
    signal = ndimage.gaussian_filter(signal, rng.uniform(0.6, 1.1))  # optical blur (PSF)
    clean = np.clip(haze + signal, 0, None)

    # Shot noise scales with intensity, read noise does not.
    noise = rng.normal(size=(h, w)) * np.sqrt(rng.uniform(0.0003, 0.003) * clean)
    noise += rng.normal(0.0, rng.uniform(0.004, 0.015), (h, w))
    image = np.clip(clean + noise, 0, 1)
    image = np.round(image * 255) / 255  # 8-bit, like the VessMAP TIFFs
    return image.astype(np.float32), label


def synthetic_batch(seeds, size: int | tuple[int, int] = 64) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, H, W] float32 and labels [N, H, W] bool for a sequence of seeds."""
    pairs = [synthetic_vessels(int(s), size) for s in seeds]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
