"""Keys that send the cursor somewhere: `g` to a typed pixel, `m` to the most significant
one, `x` / `X` to the model's next mistake. Functions of the session, like threshold_keys:
each returns what the app is to do (the cursor's requests and repaints, or a note)."""

import numpy as np

from cnninterp.jaxcore.explain.groundtruth import next_mistake as find_next_mistake
from cnninterp.tui import prompts
from cnninterp.tui.state.effects import Effects, Prompt
from cnninterp.tui.state.session import Session

MISTAKE_NAMES = {"fp": "false positive", "fn": "false negative"}


def goto(session: Session) -> Effects:
    """A prompt for "y x"; the answer moves the cursor."""
    shape = session.view.shape if session.view else None
    y, x = session.cursor
    return Effects(
        prompt=Prompt(
            "Go to pixel: y x",
            f"{y} {x}",
            lambda text: prompts.parse_pixel(text, shape),
            lambda yx: session.move_to(*yx),
        )
    )


def jump_to_max(session: Session) -> Effects:
    sig = session.view.significance if session.view else None
    if sig is None or not np.isfinite(sig.counts).any():
        return Effects().note("no significance computed yet", "warning")
    y, x = np.unravel_index(int(np.nanargmax(sig.counts)), sig.counts.shape)
    return session.move_to(int(y), int(x))


def next_mistake(session: Session, kind: str) -> Effects:
    """The next false positive (`kind` 'fp') or negative ('fn') after the cursor."""
    view = session.view
    label = view.loaded.label if view is not None and view.loaded is not None else None
    if view is None or view.probability is None or label is None:
        return Effects().note("no labels for this image: no mistakes to walk", "warning")
    found = find_next_mistake(kind, view.probability, label, *session.cursor)
    if found is None:
        return Effects().note(f"no other {MISTAKE_NAMES[kind]} in this image", timeout=4)
    return session.move_to(*found)
