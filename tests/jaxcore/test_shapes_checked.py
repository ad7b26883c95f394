"""jaxtyping's shapes on jaxcore's public functions are checked in the tests (pyproject's
--jaxtyping-packages): a call with a wrongly shaped array fails at the call."""

import numpy as np
import pytest
from jaxtyping import TypeCheckError

from cnninterp.jaxcore.summaries.significance import ThresholdMode, predicted_mask, threshold_at


def test_a_wrongly_shaped_call_is_refused_at_run_time():
    with pytest.raises(TypeCheckError):
        predicted_mask(np.zeros((2, 3, 4), np.float32))  # "H W" expected
    with pytest.raises(TypeCheckError):
        predicted_mask(np.zeros((4, 4), np.int32))  # Float expected
    assert predicted_mask(np.zeros((4, 4), np.float32)).shape == (4, 4)


def test_the_row_of_a_pixel_must_be_a_picture():
    with pytest.raises(TypeCheckError):
        threshold_at(None, ThresholdMode.ROW, 1.0, 0, 0, row=np.zeros(16, np.float32))
