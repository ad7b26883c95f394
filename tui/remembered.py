"""What is remembered between sessions (settings.json: the threshold, colormap, scale, zoom
and theme) and the user's keys (keys.toml), applied when the app starts."""

from dataclasses import replace
from typing import TYPE_CHECKING

from cnninterp.tui.pictures import colours
from cnninterp.tui.pictures.viewport import Viewport
from cnninterp.tui.pictures.zoom import scale_from_label
from cnninterp.tui.settings import Settings, load_keymap, load_settings, save_settings

if TYPE_CHECKING:
    from cnninterp.tui.app import CnnInterpApp


class Remembered:
    def __init__(self, app: "CnnInterpApp") -> None:
        self.app = app
        self.settings = Settings()
        """What is remembered between sessions (apply replaces it at mount)."""
        self.keymap: dict[str, str] = {}
        """The user's keys.toml, {binding id: keys}, over the defaults."""

    def apply(self) -> None:
        """The last threshold, colormap, scale, zoom and theme, and the user's keys.toml."""
        app, session = self.app, self.app.session
        self.settings, notes = load_settings()
        keymap, key_notes = load_keymap()
        settings = self.settings
        session.threshold = settings.threshold
        session.cmap_index = colours.DIVERGING.index(settings.colormap)
        session.log_scale = settings.log_scale
        app.main.viewport = Viewport(scale=scale_from_label(settings.zoom))
        if settings.theme is not None:
            if settings.theme in app.available_themes:
                app.theme = settings.theme
            else:
                notes.append(f"theme {settings.theme!r} is not available; using the default")
        if keymap:
            app.set_keymap(keymap)
        self.keymap = keymap
        for note in notes + key_notes:
            app.notify(note, severity="warning", timeout=10)
        app.theme_changed_signal.subscribe(app, lambda theme: self.remember(theme=theme.name))

    def remember(self, **changes) -> None:
        """Keep a choice for the next session (settings.json, written atomically)."""
        updated = replace(self.settings, **changes)
        if updated == self.settings:
            return
        self.settings = updated
        if (note := save_settings(updated)) is not None:
            self.app.notify(note, severity="warning", timeout=8)
