"""The converter's failures, each with a message written for the person running it.

The CLI prints the message and exits; it never shows a traceback for these. A parity failure
is its own class because it has its own exit code and carries the figures that failed.
"""


class ConversionError(Exception):
    """A checkpoint that cannot be converted, or an output that cannot be written."""


class ParityError(ConversionError):
    """The Flax model disagrees with the PyTorch reference; nothing was written."""

    def __init__(self, message: str, parity):
        super().__init__(message)
        self.parity = parity
        """The cnninterp.convert.parity.Parity that failed."""


class BadModelFile(ConversionError):
    """A .pt2 file that is damaged, is not a torch.export archive, or uses a layout we cannot
    read; nothing in it ran."""


class UnsafeModelFile(ConversionError):
    """A .pt2 file carrying something that loading it with torch.export.load would run (a
    pickle, a code string, an operator from outside PyTorch); refused unloaded."""
