"""Looking closely, and coming back: the shared zoom and pan of the picture panels, the
maximised panel, the image picker, and the choices remembered between sessions.

A base of `Controls` (controls.py), which holds the cursor and the image's view: these are
the keys about how to look at an image rather than what to compute, split out so each module
reads as one concern. The viewport follows the cursor in the smallest panel on screen, so the
cursor is inside every panel (they share zoom and centre; the detail panel frames itself).
"""

from dataclasses import replace

from textual.app import App
from textual.widget import Widget

from cnninterp.tui import render
from cnninterp.tui.panels import CURSOR_VIEWS, set_border
from cnninterp.tui.settings import Settings, load_keymap, load_settings, save_settings
from cnninterp.tui.threshold import Threshold
from cnninterp.tui.view import ImageView
from cnninterp.tui.viewport import Viewport, scale_from_label
from cnninterp.tui.widgets.graphics_view import GraphicsView
from cnninterp.tui.widgets.image_list import ImageList
from cnninterp.tui.widgets.image_picker import ImagePicker
from cnninterp.tui.widgets.pixel_view import PixelView


class Looking(App[None]):
    view: ImageView | None
    cursor: tuple[int, int]
    threshold: Threshold
    cmap_index: int
    log_scale: bool

    def __init__(self) -> None:
        super().__init__()
        self.viewport = Viewport()
        """Zoom and centre shared by the cursor panels (the detail panel frames itself)."""
        self.settings = Settings()
        """What is remembered between sessions (apply_remembered replaces it at mount)."""
        self.user_keymap: dict[str, str] = {}
        """The user's keys.toml, {binding id: keys}, over the defaults."""

    def select_image(self, index: int) -> None:
        raise NotImplementedError

    def paint_statistics(self) -> None:
        raise NotImplementedError

    def after_resize(self) -> None:
        """Once the panels have their new sizes: the viewport re-follows, the statistics
        take the layout of the new size at once, not at the next key."""
        self.follow_cursor()
        self.paint_statistics()

    # ---- zoom, pan, maximise, image picker ---------------------------------------------------

    def cursor_panels(self) -> list[PixelView | GraphicsView]:
        panels = [self.query_one(f"#{name}") for name in CURSOR_VIEWS]
        return [p for p in panels if isinstance(p, PixelView | GraphicsView)]

    def smallest_box(self) -> tuple[int, int] | None:
        """(columns, rows) of the smallest cursor panel on screen (a maximised one alone):
        followed there, the cursor is inside every larger panel too."""
        maximised = self.screen.maximized
        boxes = [
            panel.box
            for panel in self.cursor_panels()
            if panel.size.width > 0
            and (maximised is None or maximised is panel or panel in maximised.walk_children())
        ]
        if not boxes:
            return None
        return min(b[0] for b in boxes), min(b[1] for b in boxes)

    def follow_cursor(self) -> None:
        """Pan the shared viewport to keep the cursor in view and hand it to the panels."""
        shape = self.view.shape if self.view is not None else None
        box = self.smallest_box()
        if shape is not None and box is not None:
            self.viewport = self.viewport.follow(self.cursor, shape, *box)
        for panel in self.cursor_panels():
            panel.set_viewport(self.viewport)
        set_border(self.query_one("#image"), subtitle=f"zoom {self.viewport.label}")

    def action_zoom(self, steps: int) -> None:
        shape = self.view.shape if self.view is not None else None
        box = self.smallest_box()
        if shape is None or box is None:
            return
        self.viewport = self.viewport.zoomed(steps, shape, *box, anchor=self.cursor)
        self.follow_cursor()
        self.zoom_changed()

    def on_pixel_view_zoom(self, message: PixelView.Zoom) -> None:
        if message.view.id in CURSOR_VIEWS:
            self.action_zoom(message.steps)

    def action_maximise(self) -> None:
        """The focused panel (tab moves the focus; the image panel when none) fills the
        screen; again, back to the grid."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        else:
            focused = self.focused
            panel: Widget | None = focused if focused is not None else self.query_one("#image")
            while panel is not None and not panel.has_class("panel"):
                parent = panel.parent
                panel = parent if isinstance(parent, Widget) else None
            screen.maximized = panel or self.query_one("#image")
        self.call_after_refresh(self.after_resize)

    COMPACT_PICTURES = ("image", "probability", "significance", "detail")
    """The pictures that take turns in the compact layout's one picture slot (`w`)."""
    compact_picture = 0

    def show_compact_picture(self) -> None:
        for i, name in enumerate(self.COMPACT_PICTURES):
            self.query_one(f"#{name}").set_class(i != self.compact_picture, "compact-hidden")

    def action_cycle_picture(self) -> None:
        """In the compact layout (short terminals), show the next picture in its slot."""
        if not self.screen.has_class("-short"):
            self.notify("every picture is on screen already (w is for short terminals)")
            return
        self.compact_picture = (self.compact_picture + 1) % len(self.COMPACT_PICTURES)
        self.show_compact_picture()
        self.call_after_refresh(self.after_resize)

    def action_pick_image(self) -> None:
        names = [entry.name for entry in self.query_one(ImageList).entries]
        if not names:
            self.notify("no images to pick from", severity="warning")
            return
        current = self.view.index if self.view is not None else 0

        def picked(index: int | None) -> None:
            if index is not None and (self.view is None or index != self.view.index):
                self.select_image(index)

        self.push_screen(ImagePicker(names, current), picked)

    # ---- remembered between sessions (settings.py) -------------------------------------------

    def apply_remembered(self) -> None:
        """The last threshold, colormap, scale, zoom and theme, and the user's keys.toml."""
        self.settings, notes = load_settings()
        keymap, key_notes = load_keymap()
        settings = self.settings
        self.threshold = settings.threshold
        self.cmap_index = render.DIVERGING.index(settings.colormap)
        self.log_scale = settings.log_scale
        self.viewport = Viewport(scale=scale_from_label(settings.zoom))
        if settings.theme is not None:
            if settings.theme in self.available_themes:
                self.theme = settings.theme
            else:
                notes.append(f"theme {settings.theme!r} is not available; using the default")
        if keymap:
            self.set_keymap(keymap)
        self.user_keymap = keymap
        for note in notes + key_notes:
            self.notify(note, severity="warning", timeout=10)
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember(theme=theme.name))

    def remember(self, **changes) -> None:
        """Keep a choice for the next session (settings.json, written atomically)."""
        updated = replace(self.settings, **changes)
        if updated == self.settings:
            return
        self.settings = updated
        if (note := save_settings(updated)) is not None:
            self.notify(note, severity="warning", timeout=8)

    def zoom_changed(self) -> None:
        self.remember(zoom=self.viewport.label)
