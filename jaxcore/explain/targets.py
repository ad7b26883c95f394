"""What is explained: a target is a weight map over output pixels, T = sum_yx w[y, x] p[y, x].

Its gradient is one backward pass (target_gradients.py), whatever its size. Regions come from
the predicted mask p > 0.5 of the image being explained, as Xplique's segmentation helpers
build them from the prediction: `segment` is the 8-connected component containing the pixel
(cv2.connectedComponents' default connectivity, which Xplique uses), `vessel` the whole
predicted class, `border` Xplique's get_in_out_border: +1 on the mask's inner border, -1 on its
outer border, so T measures how sharply the model separates vessel from background there.

Pure NumPy/SciPy on [H, W] maps: it runs once per cursor move, in well under a millisecond.
"""

from dataclasses import dataclass

import numpy as np
from jaxtyping import Bool, Float
from scipy import ndimage

from cnninterp.jaxcore.summaries.significance import predicted_mask

KINDS = ("pixel", "box", "segment", "vessel", "border")
EIGHT_CONNECTED = np.ones((3, 3), bool)


class TargetError(ValueError):
    """A target that cannot be built on this image; the message is fit for the user."""


@dataclass(frozen=True)
class Target:
    """One explained quantity. Coordinates are (row, column) pixels of the image."""

    kind: str = "pixel"
    """One of KINDS."""
    y: int | None = None
    """The pixel (pixel) or the seed pixel of the segment (segment)."""
    x: int | None = None
    box: tuple[int, int, int, int] | None = None
    """(y0, x0, y1, x1), both corners included (box)."""
    radius: int | float | None = None
    """segment only: keep pixels within this Euclidean distance of (y, x); None: no limit."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise TargetError(f"unknown target {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.kind in ("pixel", "segment") and (self.y is None or self.x is None):
            raise TargetError(f"a {self.kind} target needs a pixel (y, x)")
        if self.kind == "box":
            if self.box is None or len(self.box) != 4:
                raise TargetError("a box target needs its corners y0,x0,y1,x1")
            y0, x0, y1, x1 = self.box
            if y1 < y0 or x1 < x0:
                raise TargetError(f"box {self.box}: y1 >= y0 and x1 >= x0 are needed")
        if self.radius is not None and not self.radius >= 0:
            raise TargetError(f"segment radius must be >= 0, not {self.radius}")

    @classmethod
    def parse(cls, text: str, y: int | None = None, x: int | None = None) -> "Target":
        """From the command line: pixel | box:Y0,X0,Y1,X1 | segment | vessel | border; the
        pixel (y, x) serves pixel and segment."""
        kind, _, rest = text.strip().partition(":")
        if kind == "box":
            try:
                corners = tuple(int(v) for v in rest.split(","))
            except ValueError:
                raise TargetError(
                    f"box needs four integers box:Y0,X0,Y1,X1, got {text!r}"
                ) from None
            if len(corners) != 4:
                raise TargetError(f"box needs four integers box:Y0,X0,Y1,X1, got {text!r}")
            return cls("box", box=corners)
        if rest:
            raise TargetError(f"target {kind!r} takes no parameters, got {text!r}")
        return cls(kind, y=y, x=x)

    @property
    def is_single_pixel(self) -> bool:
        return self.kind == "pixel"

    def key(self) -> str:
        """Stable text for cache keys: the same target, the same key."""
        if self.kind == "pixel":
            return f"pixel({self.y},{self.x})"
        if self.kind == "box":
            assert self.box is not None  # parse and the constructor's check guarantee it
            return "box({},{},{},{})".format(*self.box)
        if self.kind == "segment":
            return f"segment({self.y},{self.x},r={self.radius if self.radius is not None else '-'})"
        return self.kind

    def describe(self) -> str:
        """For panel titles: 'segment at (30, 24)'."""
        if self.kind in ("pixel", "segment"):
            limit = f" within {self.radius:g} px" if self.radius is not None else ""
            return f"{self.kind} at ({self.y}, {self.x}){limit}"
        if self.kind == "box":
            assert self.box is not None
            return "box ({}, {})-({}, {})".format(*self.box)
        return {"vessel": "whole vessel", "border": "vessel border"}[self.kind]


def target_weights(target: Target, probability: Float[np.ndarray, "H W"]) -> np.ndarray:
    """float32 [H, W]: the target's weight on every output pixel, or TargetError."""
    probability = np.asarray(probability, np.float32)
    height, width = probability.shape
    weights = np.zeros((height, width), np.float32)
    if target.kind == "pixel":
        _check_inside(target.y, target.x, height, width)
        weights[target.y, target.x] = 1.0
    elif target.kind == "box":
        assert target.box is not None
        y0, x0, y1, x1 = target.box
        if not (0 <= y0 and 0 <= x0 and y1 < height and x1 < width):
            raise TargetError(
                f"box ({y0}, {x0})-({y1}, {x1}) is not inside the {height}x{width} image"
            )
        weights[y0 : y1 + 1, x0 : x1 + 1] = 1.0
    elif target.kind == "segment":
        assert target.y is not None and target.x is not None
        weights[segment_mask(probability, target.y, target.x, target.radius)] = 1.0
    elif target.kind == "vessel":
        mask = predicted_mask(probability)
        if not mask.any():
            raise TargetError("the model predicts no vessel (p > 0.5) in this image")
        weights[mask] = 1.0
    else:
        weights = in_out_border(predicted_mask(probability)).astype(np.float32)
        if not weights.any():
            raise TargetError("the predicted mask has no border (no vessel, or vessel everywhere)")
    return weights


def segment_mask(probability, y: int, x: int, radius: int | float | None = None) -> np.ndarray:
    """bool [H, W]: the 8-connected component of the predicted mask containing (y, x);
    with a radius, of the mask cut to the disc around (y, x). TargetError on background,
    naming the nearest vessel pixel."""
    mask = predicted_mask(probability)
    height, width = mask.shape
    _check_inside(y, x, height, width)
    if not mask[y, x]:
        if not mask.any():
            raise TargetError("the model predicts no vessel (p > 0.5) in this image")
        ny, nx = nearest_vessel_pixel(mask, y, x)
        raise TargetError(
            f"pixel ({y}, {x}) is background (p = {float(probability[y, x]):.2f} <= 0.5); "
            f"the nearest vessel pixel is ({ny}, {nx})"
        )
    if radius is not None:
        ys, xs = np.indices(mask.shape)
        mask = mask & ((ys - y) ** 2 + (xs - x) ** 2 <= radius**2)
    labels, _ = ndimage.label(mask, structure=EIGHT_CONNECTED)
    return labels == labels[y, x]


def nearest_vessel_pixel(mask: np.ndarray, y: int, x: int) -> tuple[int, int]:
    """The mask pixel nearest (y, x) (Euclidean; ties broken by SciPy's transform)."""
    _, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    return int(iy[y, x]), int(ix[y, x])


def in_out_border(mask: Bool[np.ndarray, "H W"]) -> np.ndarray:
    """int8 [H, W]: Xplique's get_in_out_border. With m = +1 in the mask and -1 outside
    (symmetric padding at the image's edge), c = 13 m - (sum of the 8 neighbours' m):
    inner border where 6 < c < 21, outer border where -21 < c < -6. So a mask pixel with 1 to
    7 of its 8 neighbours outside is inner border (+1), a background pixel with 1 to 7
    neighbours inside is outer border (-1); an isolated pixel is neither, as in Xplique."""
    signed = np.where(mask, 1, -1).astype(np.int32)
    padded = np.pad(signed, 1, mode="symmetric")
    height, width = mask.shape
    neighbours = sum(
        padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dy, dx) != (0, 0)
    )
    c = 13 * signed - neighbours
    inner = (c > 6) & (c < 21)
    outer = (c > -21) & (c < -6)
    return inner.astype(np.int8) - outer.astype(np.int8)


def _check_inside(y, x, height, width) -> None:
    if not (0 <= y < height and 0 <= x < width):
        raise TargetError(f"pixel ({y}, {x}) is outside the {height}x{width} image")
