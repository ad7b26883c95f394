"""How each PyTorch tensor layout becomes the Flax one: one small function per rule.

Every rule has a numeric test against the torch op in tests/convert/test_convert_layout.py. The
padding half of each rule lives in cnninterp.jaxcore.model.network (PAD_1, PAD_TRANSPOSED): a kernel
is only right together with the padding it is used with, and both are proved together.
"""

import numpy as np


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """Conv2d weight for flax nn.Conv (stride 1 or 2, padding PAD_1).

    torch Conv2d [O, I, kH, kW] -> flax [kH, kW, I, O]. Both frameworks compute a
    cross-correlation, so the kernel is not flipped.
    """
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def conv_transpose_kernel(weight: np.ndarray) -> np.ndarray:
    """ConvTranspose2d weight for flax nn.ConvTranspose(transpose_kernel=True, PAD_TRANSPOSED).

    torch ConvTranspose2d [I, O, kH, kW] -> flax [kH, kW, O, I]. With transpose_kernel=True
    Flax flips the spatial axes and swaps the two channel axes itself (the gradient of a
    forward conv with this kernel), so the kernel is stored as torch's, axes reordered only.
    The same transpose as conv_kernel, but the channel axes mean the opposite.
    """
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def channel_vector(values: np.ndarray) -> np.ndarray:
    """Biases and BatchNorm tensors: torch [C] -> flax [C].

    BatchNorm2d weight -> scale, bias -> bias (params); running_mean -> mean and
    running_var -> var (batch_stats). num_batches_tracked only matters for training and is
    dropped (see key_map.DROPPED_SUFFIXES).
    """
    return np.ascontiguousarray(values)
