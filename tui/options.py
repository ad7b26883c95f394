"""What the command line decided, handed to the app factory (the CLI and the tests share it)."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AppOptions:
    folder: Path | None = None
    """Folder of images (flat, or images/ + labels/); None opens the bundled demo."""
    model: Path | None = None
    """Model file (.safetensors) or PyTorch checkpoint (.pth); None looks in the folder."""
    graphics: str = "halfblock"
    """'halfblock', 'kitty' or 'sixel' (already resolved from 'auto' by the CLI)."""
    vessel_class: str | None = None
    """--class: the output class explained, a number or a class name (None: the model's)."""
    save_dir: Path = Path("cnninterp-saves")
    """Where `s` writes the current view."""
    cache: bool = True
    """Reuse complete significance results from the disk cache, and resume unfinished passes
    kept there (jaxcore/store/results.py)."""
    max_pixels: int = 2**26
    """Largest image opened (jaxcore.images.loading.load_image's max_pixels; --max-pixels)."""
    chunk_size: int | None = None
    """Rows per batch of the significance pass (None: the explainer decides)."""
    devices: None | int | list[int] = None
    """--devices: None every local device, a count, or indices (jaxcore/passes/devices.py)."""
    image_widget: type | None = None
    """textual-image widget class for kitty/sixel panels (None: chosen from `graphics`);
    tests substitute a stand-in."""
    cell_size: tuple[int, int] | None = None
    """Terminal cell size in screen pixels (None: as textual-image measured it)."""
