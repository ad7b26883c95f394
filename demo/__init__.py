"""The bundled demo: synthetic vessel images and a small model trained on them by our code.

`python -m cnninterp.demo.train --out demo/assets` rebuilds everything in assets/ (see the
README there). The paths are found next to this file, which holds for a regular install and
for `pip install -e .` alike (package data is not zipped).
"""

from pathlib import Path

MODEL_FILE = "demo_model.safetensors"


def demo_dir() -> Path:
    """The demo assets folder, in the images/ + labels/ layout that find_images reads."""
    return Path(__file__).resolve().parent / "assets"


def demo_model_path() -> Path:
    """The demo model file, in the cnninterp format (jaxcore.model.model_file reads it)."""
    return demo_dir() / MODEL_FILE
