"""The app's panels by name, and the painting of each from the current state.

What a panel shows is decided by the pure functions in `paint`; this class only finds the
widgets and hands them the pictures, so the app reads as routing: results in, panels out.
"""

from textual.app import App
from textual.widget import Widget

from cnninterp.jaxcore.images.loading import LoadedImage
from cnninterp.tui import paint
from cnninterp.tui.paint import Picture, PicturePanel
from cnninterp.tui.threshold import Threshold
from cnninterp.tui.view import ImageView, StatsRecord, statistics_rows
from cnninterp.tui.widgets.colorbar import Colorbar
from cnninterp.tui.widgets.graphics_view import GraphicsView
from cnninterp.tui.widgets.pixel_view import PixelView
from cnninterp.tui.widgets.stats_panel import StatsPanel
from cnninterp.tui.widgets.status_line import StatusLine

CURSOR_VIEWS = ("image", "probability", "significance", "gradient")
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
    def __init__(self, app: App[None]):
        self.app = app

    def picture(self, name: str) -> PicturePanel:
        widget = self.app.query_one(f"#{name}")
        if not isinstance(widget, PixelView | GraphicsView):
            raise TypeError(f"#{name} is not a picture panel")
        return widget

    def show(self, name: str, picture: Picture) -> None:
        self.picture(name).set_picture(picture.rgb, picture.message, picture.layers)
        if picture.subtitle is not None:
            set_border(self.app.query_one(f"#{name}"), subtitle=picture.subtitle)

    def say(self, names: tuple[str, ...], message: str) -> None:
        """Show `message` instead of a picture in each of `names`."""
        for name in names:
            self.picture(name).set_picture(None, message)

    def title(self, name: str, text: str) -> None:
        set_border(self.app.query_one(f"#{name}"), title=text)

    def status(self, activity: str | None = None, device: str | None = None) -> None:
        self.app.query_one(StatusLine).show(activity, device)

    def set_titles(self) -> None:
        for name, title in TITLES.items():
            self.title(name, title)

    def image(self, loaded: LoadedImage, index: int, count: int) -> None:
        self.picture("image").set_picture(paint.image_picture(loaded))
        self.title("image", paint.image_title(loaded, index, count))

    def probability(self, view: ImageView, overlays: bool) -> None:
        picture = paint.probability_picture(view, overlays)
        if picture is not None:
            self.show("probability", picture)

    def significance(self, view: ImageView, threshold: Threshold) -> None:
        picture = paint.significance_picture(view, threshold)
        if picture is not None:
            self.show("significance", picture)

    def row(
        self,
        view: ImageView,
        threshold: Threshold,
        cursor: tuple[int, int],
        log_scale: bool,
        cmap: str,
        *,
        gradient: bool = True,
        detail: bool = True,
    ) -> None:
        """The cursor's gradient row with its colour bar, and its footprint crop (`detail`),
        once computed."""
        row = view.row_for(*cursor)
        if row is None:
            return
        scale = paint.row_scale(row, log_scale)
        if gradient:
            picture = paint.gradient_picture(row, scale, cmap)
            self.picture("gradient").set_picture(picture.rgb)
            self.app.query_one(Colorbar).set_scale(scale, cmap)
            set_border(self.app.query_one("#gradient-box"), subtitle=picture.subtitle or "")
        if detail:
            self.show("detail", paint.detail_picture(view, threshold, cursor, row, scale, cmap))

    def cursor(self, view: ImageView | None, y: int, x: int) -> None:
        """The cursor on every picture; the gradient box's title is the explanation's
        (request_explanation sets it next)."""
        for name in CURSOR_VIEWS:
            self.picture(name).set_cursor(y, x)
        if view is not None and view.row_for(y, x) is None:
            set_border(self.app.query_one("#gradient-box"), subtitle="computing…")

    def statistics(self, record: StatsRecord, threshold: Threshold) -> None:
        # paired two to a line by the panel itself where it is too short
        self.app.query_one(StatsPanel).show_rows(statistics_rows(record, threshold))

    def text(self, message: str) -> None:
        """A message in the statistics panel (nothing to show)."""
        self.app.query_one(StatsPanel).show_message(message)
