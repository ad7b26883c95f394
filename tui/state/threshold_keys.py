"""The threshold's keys: `]` / `[` step it, `T` cycles its mode, `t` asks for a value.

Functions of the session (Session.set_threshold applies the new threshold): each returns
what the app is to do, a refusal in words when the key cannot apply.
"""

from cnninterp.jaxcore.summaries.significance import ThresholdMode
from cnninterp.tui import prompts
from cnninterp.tui.state.effects import Effects, Prompt
from cnninterp.tui.state.session import Session


def threshold_step(session: Session, steps: int) -> Effects:
    refused = prompts.step_refusal(session.threshold, steps)
    if refused is not None:
        return Effects().note(refused, timeout=4)
    return session.set_threshold(session.threshold.stepped(steps))


def cycle_mode(session: Session) -> Effects:
    effects = session.set_threshold(session.threshold.next_mode(session.threshold_here()))
    return effects.note(f"threshold mode: {session.threshold.describe()}", timeout=3)


def type_threshold(session: Session) -> Effects:
    if session.threshold.mode is ThresholdMode.LEGACY:
        value = session.threshold_here()
        now = "" if value is None else f" (here |G| > {value:.3g})"
        return Effects().note(
            f"legacy mode's threshold is fixed at 1 % of the signed max{now}; "
            "T changes to a mode you can set",
            timeout=6,
        )
    mode = session.threshold.mode
    return Effects(
        prompt=Prompt(
            prompts.threshold_question(session.threshold),
            f"{session.threshold.t_value:g}",
            lambda text: prompts.parse_threshold(text, mode),
            lambda value: session.set_threshold(session.threshold.with_value(value)),
        )
    )
