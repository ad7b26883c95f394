"""The screen's panels drawn from the session: one method per `Paint` of state/effects.py.

What a picture shows is decided by the pure functions in pictures/panel_pictures.py; this
class finds the widgets and hands them the pictures and texts.
"""

import numpy as np
from textual.widget import Widget

from cnninterp.tui.attribution_statistics import attribution_limit
from cnninterp.tui.cursor_statistics import exact_counts_note
from cnninterp.tui.eta import format_percent
from cnninterp.tui.pass_status import pass_status
from cnninterp.tui.pictures import colours, panel_pictures
from cnninterp.tui.pictures.colorbar import Colorbar
from cnninterp.tui.pictures.graphics_view import GraphicsView
from cnninterp.tui.pictures.picture_panel import Picture, PicturePanel
from cnninterp.tui.pictures.pixel_view import PixelView
from cnninterp.tui.state.attribution_state import TARGET_OUTLINE_RGB
from cnninterp.tui.state.effects import Effects, Paint
from cnninterp.tui.state.session import CURSOR_VIEWS, Session
from cnninterp.tui.widgets.image_list import ImageEntry, ImageList
from cnninterp.tui.widgets.stats_panel import StatsPanel
from cnninterp.tui.widgets.status_line import StatusLine

PICTURES = (*CURSOR_VIEWS, "detail")
TITLES = {"image": "image", "probability": "p(vessel)", "significance": "significance"}
TITLES |= {"gradient-box": "gradient row", "detail": "detail", "stats": "statistics"}


def set_border(widget: Widget, *, title: str | None = None, subtitle: str | None = None) -> None:
    """Set a panel's border texts. Textual repaints the whole panel on every assignment, and a
    cursor move sets them several times (a 256x256 image: six panels repainted per key, whose
    rendering took a core from the next row's computation), so only changed texts are set."""
    # Textual hands the texts back as markup: equal to ours unless they hold brackets, which
    # are then set again each time (as before).
    if title is not None and widget.border_title != title:
        widget.border_title = title
    if subtitle is not None and widget.border_subtitle != subtitle:
        widget.border_subtitle = subtitle


class Panels:
    def __init__(self, screen: Widget, session: Session):
        self.screen, self.session = screen, session

    # ---- finding and filling the widgets -------------------------------------------------

    def picture(self, name: str) -> PicturePanel:
        widget = self.screen.query_one(f"#{name}")
        if not isinstance(widget, PixelView | GraphicsView):
            raise TypeError(f"#{name} is not a picture panel")
        return widget

    def show(self, name: str, picture: Picture) -> None:
        self.picture(name).set_picture(picture.rgb, picture.message, picture.layers)
        if picture.subtitle is not None:
            set_border(self.screen.query_one(f"#{name}"), subtitle=picture.subtitle)

    def say(self, names: tuple[str, ...], message: str) -> None:
        """Show `message` instead of a picture in each of `names`."""
        for name in names:
            self.picture(name).set_picture(None, message)

    def title(self, name: str, text: str | None = None, subtitle: str | None = None) -> None:
        set_border(self.screen.query_one(f"#{name}"), title=text, subtitle=subtitle)

    def status(self, activity: str | None = None, device: str | None = None) -> None:
        self.screen.query_one(StatusLine).show(activity, device)

    def set_titles(self) -> None:
        for name, title in TITLES.items():
            self.title(name, title)

    def text(self, message: str) -> None:
        """A message in the statistics panel (nothing to show)."""
        self.screen.query_one(StatsPanel).show_message(message)

    # ---- the paints ----------------------------------------------------------------------

    def paint(self, what: Paint, effects: Effects) -> None:
        """Repaint `what` from the session (effects: the texts that come with it)."""
        getattr(self, f"paint_{what.name.lower()}")(effects)

    def paint_image_list(self, effects: Effects) -> None:
        entries = [ImageEntry(source.name) for source in self.session.sources]
        self.screen.query_one(ImageList).set_entries(entries)

    def paint_image_loading(self, effects: Effects) -> None:
        # Nothing of the previous image may stay on screen while this one loads.
        session = self.session
        assert session.view is not None
        index, count = session.view.index, len(session.sources)
        self.screen.query_one(ImageList).set_current(index)
        self.say(PICTURES, "loading…")
        name = session.sources[index].name
        self.title("image", f"{name} ({index + 1}/{count}) · loading…")
        self.text(f"loading {name}…")
        self.screen.query_one(Colorbar).set_scale(None, session.cmap)

    def paint_image_failed(self, effects: Effects) -> None:
        view = self.session.view
        assert view is not None and view.error is not None
        self.screen.query_one(ImageList).update_entry(view.index, state="error")
        self.say(PICTURES, "cannot read this image")
        self.text(view.error)

    def paint_image(self, effects: Effects) -> None:
        view, count = self.session.view, len(self.session.sources)
        assert view is not None and view.loaded is not None
        loaded = view.loaded
        height, width = loaded.original_shape
        self.screen.query_one(ImageList).update_entry(view.index, size=f"{width}x{height}")
        self.picture("image").set_picture(panel_pictures.image_picture(loaded))
        self.title("image", panel_pictures.image_title(loaded, view.index, count))
        self.say(("significance",), "computing…")

    def paint_probability(self, effects: Effects) -> None:
        if self.session.view is not None:
            picture = panel_pictures.probability_picture(self.session.view, self.session.overlays)
            if picture is not None:
                self.show("probability", picture)

    def paint_outline(self, effects: Effects) -> None:
        view, regions = self.session.view, self.session.attribution.outlined
        if view is None or view.loaded is None:
            return
        mask = np.zeros(view.loaded.pixels.shape[:2], bool)
        for region in regions:
            mask |= colours.outline(region)
        target = (mask, TARGET_OUTLINE_RGB)  # a layer: painted after zooming out (block max)
        self.picture("image").set_picture(
            panel_pictures.image_picture(view.loaded), layers=(target,)
        )
        probability = panel_pictures.probability_picture(view, self.session.overlays)
        if probability is not None:
            layers = (*probability.layers, target)
            self.picture("probability").set_picture(probability.rgb, layers=layers)

    def paint_list_progress(self, effects: Effects) -> None:
        """The image list's entry: done with its size, or partial with its percent (a pass
        resumed from the cache shows it at once)."""
        view = self.session.view
        if view is None or view.stats is None:
            return
        image_list = self.screen.query_one(ImageList)
        if view.stats.complete:
            size = ""
            if view.loaded is not None:
                height, width = view.loaded.original_shape
                size = f"{width}x{height}"
            image_list.update_entry(view.index, state="done", **({"size": size} if size else {}))
        else:
            percent = format_percent(view.stats.fraction_done)
            image_list.update_entry(view.index, state="partial", size=percent)

    def paint_pass_status(self, effects: Effects) -> None:
        """The pass's progress, what the exact counts cover, and while it runs what each
        device is doing."""
        session, view = self.session, self.session.view
        if view is None or view.stats is None or session.explainer is None:
            return
        image = self.screen.query_one("#image")
        window = image.window if isinstance(image, PixelView) else None
        status = pass_status(view, view.pass_fraction, view.stats_seconds, window)
        if (note := exact_counts_note(view, session.threshold)) is not None:
            status = f"{status} · {note}"
        device = session.explainer.device_name
        if not view.stats.complete:
            device = f"{device}: {session.explainer.device_summary()}"
        self.status(status, device=device)

    def paint_cursor(self, effects: Effects) -> None:
        """The cursor on every picture; the gradient box's title is the explanation's."""
        view, (y, x) = self.session.view, self.session.cursor
        for name in CURSOR_VIEWS:
            self.picture(name).set_cursor(y, x)
        if view is not None and view.row_for(y, x) is None:
            self.title("gradient-box", subtitle="computing…")

    def paint_gradient_title(self, effects: Effects) -> None:
        self.title("gradient-box", self.session.explanation.title(*self.session.cursor))

    def paint_gradient_subtitle(self, effects: Effects) -> None:
        self.title("gradient-box", subtitle=effects.gradient_subtitle)

    def paint_refusal(self, effects: Effects) -> None:
        self.say(("gradient", "detail"), effects.refusal or "")
        self.title("gradient-box", subtitle="refused")

    def paint_significance_title(self, effects: Effects) -> None:
        plain = self.session.explanation.is_plain
        self.title("significance", "significance" if plain else "significance (per-pixel gradient)")

    def paint_significance(self, effects: Effects) -> None:
        if self.session.view is not None:
            picture = panel_pictures.significance_picture(self.session.view, self.session.threshold)
            if picture is not None:
                self.show("significance", picture)

    def paint_row(self, effects: Effects, gradient: bool = True, detail: bool = True) -> None:
        """The cursor's gradient row (or the attribution shown) with its colour bar, and its
        footprint crop (`detail`), once computed."""
        session, (y, x) = self.session, self.session.cursor
        view = session.view
        explained = session.shown_attribution()
        if not session.explanation.is_plain:
            if explained is None:
                return
            values, shown = panel_pictures.attribution_channel(explained, session.channel)
            self.title("gradient-box", f"{explained.title()}{shown}")
        else:
            row = None if view is None else view.row_for(y, x)
            if row is None:
                return
            values = row
        scale = panel_pictures.row_scale(values, session.log_scale)
        if gradient:
            picture = panel_pictures.gradient_picture(values, scale, session.cmap)
            self.picture("gradient").set_picture(picture.rgb)
            self.screen.query_one(Colorbar).set_scale(scale, session.cmap)
            self.title("gradient-box", subtitle=picture.subtitle or "")
        if not detail or view is None:
            return
        if explained is not None:
            limit = attribution_limit(session.threshold, values)
            self.show(
                "detail",
                panel_pictures.attribution_detail(values, limit, y, x, scale, session.cmap),
            )
        else:
            picture = panel_pictures.detail_picture(
                view, session.threshold, (y, x), values, scale, session.cmap
            )
            self.show("detail", picture)

    def paint_row_picture(self, effects: Effects) -> None:
        self.paint_row(effects, detail=False)

    def paint_detail(self, effects: Effects) -> None:
        self.paint_row(effects, gradient=False)

    def paint_details_later(self, effects: Effects) -> None:
        pass  # the app asks the session after the next refresh (CnnInterpApp.apply)

    def paint_statistics(self, effects: Effects) -> None:
        if self.session.view is not None:
            # paired two to a line by the panel itself where it is too short
            self.screen.query_one(StatsPanel).show_rows(self.session.statistics_rows())
