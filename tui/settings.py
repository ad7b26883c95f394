"""What the user chose, kept between sessions: settings.json and keys.toml in the config folder.

Both files belong to the user, who may edit them by hand, so reading them never fails: a file
that is corrupt, or a field that is unknown or out of range, is left out with a one-line note
(the app shows notes as notifications) and the rest is applied. settings.json is written by the
app, atomically, so a crash mid-write cannot corrupt it. keys.toml is only read: it maps the
binding ids of tui/keymap.py to Textual key strings, in the form App.set_keymap takes.

Folder: $CNNINTERP_CONFIG_DIR, else the platform's user config folder (~/.config/cnninterp).
"""

import json
import math
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import platformdirs
from textual.keys import Keys, format_key, key_to_character

from cnninterp.jaxcore.files.disk import write_atomically
from cnninterp.jaxcore.summaries.significance import DEFAULT_THRESHOLD_PERCENT, ThresholdMode
from cnninterp.tui.keymap import DEFAULT_KEYS
from cnninterp.tui.pictures.colours import DIVERGING
from cnninterp.tui.pictures.zoom import FIT, scale_from_label
from cnninterp.tui.state.threshold import PERCENT_RANGE, Threshold

ENV_VAR = "CNNINTERP_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
KEYS_FILE = "keys.toml"


def config_dir(folder: Path | str | None = None) -> Path:
    """`folder`, else $CNNINTERP_CONFIG_DIR, else the user config folder."""
    if folder is not None:
        return Path(folder)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(platformdirs.user_config_dir("cnninterp"))


# ---- settings.json ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The choices remembered between sessions; the defaults are the app's first-run ones."""

    mode: ThresholdMode = ThresholdMode.GLOBAL
    """Threshold mode."""
    percent: float = DEFAULT_THRESHOLD_PERCENT
    """Threshold for the global and row modes, in percent."""
    absolute: float | None = None
    """Threshold for the absolute mode; None until the user has used it."""
    colormap: str = DIVERGING[0]
    """Diverging colormap of the gradient panels (one of colours.DIVERGING)."""
    log_scale: bool = True
    """Signed-log gradient scale (else linear)."""
    zoom: str = FIT
    """Zoom level label: viewport.FIT or a ZOOM_LADDER scale's label ("2:1")."""
    theme: str | None = None
    """Textual theme name; None leaves Textual's default. The app checks it is available."""

    @property
    def threshold(self) -> Threshold:
        return Threshold(mode=self.mode, percent=self.percent, absolute=self.absolute)

    def with_threshold(self, threshold: Threshold) -> "Settings":
        return replace(
            self, mode=threshold.mode, percent=threshold.percent, absolute=threshold.absolute
        )


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _zoom_label(value) -> bool:
    try:
        scale_from_label(value)
    except ValueError:
        return False
    return True


# field -> (is the stored value acceptable, what an acceptable one is, for the note)
_CHECKS = {
    "mode": (lambda v: v in {m.value for m in ThresholdMode}, "a mode (global, row, ...)"),
    "percent": (
        lambda v: _number(v) and PERCENT_RANGE[0] <= v <= PERCENT_RANGE[1],
        f"a percentage in {PERCENT_RANGE[0]:g}..{PERCENT_RANGE[1]:g}",
    ),
    "absolute": (lambda v: v is None or (_number(v) and v > 0), "a positive number or null"),
    "colormap": (lambda v: v in DIVERGING, f"one of {', '.join(DIVERGING)}"),
    "log_scale": (lambda v: isinstance(v, bool), "true or false"),
    "zoom": (_zoom_label, "a zoom level (fit, 1:2, 1:1, 2:1, ...)"),
    "theme": (lambda v: v is None or (isinstance(v, str) and v != ""), "a theme name or null"),
}


def load_settings(folder: Path | str | None = None) -> tuple[Settings, list[str]]:
    """The remembered settings and notes about what was left out. No file: the defaults, no
    note (a first run)."""
    path = config_dir(folder) / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return Settings(), [f"{path}: not readable ({error}); using the default settings"]
    if not isinstance(data, dict):
        return Settings(), [f"{path}: not a JSON object; using the default settings"]
    notes, values = [], {}
    unknown = sorted(set(data) - set(_CHECKS))
    if unknown:
        notes.append(f"{path}: ignored unknown field(s) {', '.join(unknown)}")
    defaults = Settings()
    for name, (acceptable, wanted) in _CHECKS.items():
        if name not in data:
            continue
        if acceptable(data[name]):
            values[name] = data[name]
        else:
            default = getattr(defaults, name)
            notes.append(
                f"{path}: {name} = {json.dumps(data[name])} is not {wanted}; using {default}"
            )
    if "mode" in values:
        values["mode"] = ThresholdMode(values["mode"])
    return Settings(**values), notes


def save_settings(settings: Settings, folder: Path | str | None = None) -> str | None:
    """Write settings.json atomically; a note when it could not be written (read-only home,
    full disk): losing a preference must not cost the user their session."""
    path = config_dir(folder) / SETTINGS_FILE
    record = {f.name: getattr(settings, f.name) for f in fields(settings)}
    record["mode"] = settings.mode.value
    text = json.dumps(record, indent=1) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as error:
        return f"settings not saved to {path}: {error}"
    return None


# ---- keys.toml -------------------------------------------------------------------------------

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_NAMED_KEYS = frozenset(key.value.rpartition("+")[2] for key in Keys)


def valid_key(key: str) -> bool:
    """A Textual key string for one key: 'q', 'K', ']', 'f1', 'ctrl+q', 'shift+up',
    'right_square_bracket'. Names Textual would never send ('rigth') are not."""
    if len(key) == 1:
        return not key.isspace()
    *modifiers, base = key.split("+")
    if not base or any(m not in MODIFIERS for m in modifiers):
        return False
    if len(base) == 1:
        return not base.isspace()
    return base in _NAMED_KEYS or key_to_character(base) is not None or format_key(base) != base


def _key_list(value) -> list[str] | None:
    """'q, ctrl+q' or ['q', 'ctrl+q'] -> ['q', 'ctrl+q'] (None when neither form)."""
    if isinstance(value, str):
        return [k.strip() for k in value.split(",")] if value.strip() else []
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        return [k.strip() for k in value]
    return None


def load_keymap(
    folder: Path | str | None = None, binding_ids: list[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """({binding id: "key,key"} for App.set_keymap, notes). Each binding is applied whole or
    not at all: unknown ids, empty or malformed keys are named in a note and left out. Keys
    that end up on two bindings are applied but named (only one of them can fire)."""
    path = config_dir(folder) / KEYS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return {}, [f"{path}: not readable ({error}); using the default keys"]
    known = [key_id for key_id, *_ in DEFAULT_KEYS] if binding_ids is None else binding_ids
    keymap, notes = {}, []
    unknown = sorted(set(data) - set(known))
    if unknown:
        notes.append(f"{path}: no binding called {', '.join(unknown)} (ids: {', '.join(known)})")
    for key_id in known:
        if key_id not in data:
            continue
        keys = _key_list(data[key_id])
        if not keys or not all(keys):
            notes.append(f"{path}: {key_id} needs one or more keys; keeping its default")
            continue
        bad = [k for k in keys if not valid_key(k)]
        if bad:
            notes.append(f"{path}: {key_id}: unknown key(s) {', '.join(bad)}; keeping its default")
            continue
        keymap[key_id] = ",".join(keys)
    notes += _clashes(keymap, path)
    return keymap, notes


def _clashes(keymap: dict[str, str], path: Path) -> list[str]:
    """Notes for keys that two bindings share once the keymap is applied."""
    owners: dict[str, list[str]] = {}
    for key_id, default_keys, *_ in DEFAULT_KEYS:
        for key in keymap.get(key_id, default_keys).split(","):
            *modifiers, base = key.split("+") if len(key) > 1 else [key]
            owners.setdefault("+".join([*modifiers, format_key(base)]), []).append(key_id)
    return [
        f"{path}: {key} is bound to both {' and '.join(ids)}"
        for key, ids in owners.items()
        if len(ids) > 1 and any(i in keymap for i in ids)
    ]
