"""What the gradient panels explain: a method (jaxcore/explain/methods.py) of a target (targets.py).

Pure state for the app's method x target keys: cycling, the box being drawn, the parameter
prompt's text and its parsing, and panel titles (state/attribution_state.py keeps the
results). The default,
`gradient` of the cursor's `pixel`, is the app's plain gradient row and goes the row's way
(significance pass, disk cache); every other choice goes through jaxcore's Attributor.
"""

from dataclasses import dataclass, replace

import numpy as np

from cnninterp.jaxcore.explain.methods import (
    BASELINES,
    MAX_SIGMA,
    MAX_STEPS,
    METHODS,
    Method,
    MethodError,
)
from cnninterp.jaxcore.explain.targets import KINDS, Target, TargetError
from cnninterp.tui.prompts import Refused

PARAMETERS = ("steps", "samples", "sigma", "baseline", "seed")


@dataclass(frozen=True)
class Explanation:
    """The user's choice of method and target; the box is kept while other targets are chosen."""

    method: Method = Method()
    """The attribution method and all its parameters (those of other methods are kept)."""
    target_kind: str = "pixel"
    """One of jaxcore.explain.targets.KINDS; pixel and segment follow the cursor."""
    box: tuple[int, int, int, int] | None = None
    """(y0, x0, y1, x1), corners included: the last box drawn."""

    @property
    def is_plain(self) -> bool:
        """The cursor pixel's plain gradient: the app's row, nothing else to compute."""
        return self.method.name == "gradient" and self.target_kind == "pixel"

    @property
    def is_pixel(self) -> bool:
        """The target is the cursor's pixel (the cursor marks it; no outline)."""
        return self.target_kind == "pixel"

    def next_method(self) -> "Explanation":
        name = METHODS[(METHODS.index(self.method.name) + 1) % len(METHODS)]
        return replace(self, method=replace(self.method, name=name))

    def next_target(self) -> "Explanation":
        kind = KINDS[(KINDS.index(self.target_kind) + 1) % len(KINDS)]
        return replace(self, target_kind=kind)

    def with_box(self, corner: tuple[int, int], other: tuple[int, int]) -> "Explanation":
        """The box spanned by two corners in any order; it becomes the target."""
        (ya, xa), (yb, xb) = corner, other
        box = (min(ya, yb), min(xa, xb), max(ya, yb), max(xa, xb))
        return replace(self, target_kind="box", box=box)

    def target_at(self, y: int, x: int) -> Target:
        """The target with the cursor at (y, x); TargetError when no box is drawn yet."""
        if self.target_kind == "box":
            if self.box is None:
                raise TargetError("no box drawn yet: press b at one corner, then at the other")
            return Target("box", box=self.box)
        if self.target_kind in ("pixel", "segment"):
            return Target(self.target_kind, y=y, x=x)
        return Target(self.target_kind)

    def key(self, y: int, x: int) -> str:
        """What a result is cached under: method, its parameters and the target."""
        try:
            target = self.target_at(y, x).key()
        except TargetError:
            target = "box(none)"
        return f"{self.method.key()} of {target}"

    def title(self, y: int, x: int) -> str:
        """'IG(32, blur) of segment at (30, 24)'; the plain row keeps 'gradient (y, x)'."""
        if self.is_plain:
            return f"gradient ({y}, {x})"
        try:
            target = self.target_at(y, x).describe()
        except TargetError:
            target = "box (not drawn)"
        return f"{self.method.describe()} of {target}"


def parameters_text(method: Method) -> str:
    """The parameter prompt's starting text: every parameter, as the user types them."""
    m = method
    return (
        f"steps={m.steps} samples={m.samples} sigma={m.sigma:g} baseline={m.baseline} seed={m.seed}"
    )


def parameters_question(method: Method) -> str:
    return (
        f"{method.describe()} parameters: steps 1..{MAX_STEPS} (IG), samples 1..{MAX_STEPS} "
        f"and sigma 0..{MAX_SIGMA:g} of the image's range (SmoothGrad), baseline "
        f"{'|'.join(BASELINES)} (IG), seed (SmoothGrad's noise)"
    )


def parse_parameters(text: str, method: Method) -> Method:
    """`name=value` pairs (any subset, spaces or commas between) applied to `method`; a
    refusal names what is allowed. Every parameter is checked, whichever method is chosen, so
    a bad value never waits silently for the method that uses it."""
    changes: dict[str, object] = {}
    for part in text.replace(",", " ").split():
        name, sep, value = part.partition("=")
        if not sep or name not in PARAMETERS:
            raise Refused(f"type name=value pairs, names: {', '.join(PARAMETERS)} (got {part!r})")
        try:
            changes[name] = value if name == "baseline" else _number(name, value)
        except ValueError:
            kind = "a number" if name == "sigma" else "an integer"
            raise Refused(f"{name} must be {kind}, not {value!r}") from None
    chosen = replace(method, **changes)  # type: ignore[arg-type]
    try:
        for name in ("ig", "smoothgrad"):  # both validate, whichever is current
            replace(chosen, name=name)
    except MethodError as exc:
        raise Refused(str(exc)) from None
    return chosen


def _number(name: str, value: str) -> float | int:
    return float(value) if name == "sigma" else int(value)


def target_support(weights: np.ndarray) -> np.ndarray:
    """bool [H, W]: the output pixels a target weighs (its outline is drawn on the panels)."""
    return np.asarray(weights) != 0
