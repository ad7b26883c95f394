"""cnninterp: input-gradient explanations of vessel-segmentation CNNs, in the terminal."""

__version__ = "0.1.0"
