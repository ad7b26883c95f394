"""The host-memory formula of a pass (memory.py) against the arrays the pass really holds."""

import jax
import numpy as np
import pytest

from cnninterp.jaxcore.model import seed
from cnninterp.jaxcore.passes import memory
from cnninterp.jaxcore.summaries.significance import JacobianStats


def _stats_bytes(height: int, width: int) -> int:
    stats = JacobianStats.empty(height, width)  # np.zeros: sizes known, pages not touched
    arrays = (stats.done, stats.row_max_abs, stats.row_max_signed, stats.sorted_abs, stats.rows)
    arrays += (stats.edges, stats.above_edges)
    return sum(a.nbytes for a in arrays if a is not None)


@pytest.mark.parametrize("shape", [(32, 32), (128, 128), (256, 256), (576, 592), (1024, 1024)])
def test_summaries_are_the_arrays_of_the_pass(small_pair, shape):
    estimate = memory.pass_memory(*shape, small_pair.explainer.model)
    assert estimate.summaries == _stats_bytes(*shape)
    by_columns = memory.pass_memory(*shape, small_pair.explainer.model, by_columns=True)
    n = shape[0] * shape[1]
    extra = 4 * n * n if n <= 128 * 128 else 0  # the Jacobian assembled from columns
    assert by_columns.summaries - estimate.summaries == extra


def test_forward_term_counts_the_probabilities_and_every_relu_mask(small_pair):
    image = np.random.default_rng(0).random((64, 96), dtype=np.float32)
    probs, masks = small_pair.explainer.linearised(image)
    held = probs.nbytes + sum(m.nbytes for m in jax.tree.leaves(masks))
    estimate = memory.pass_memory(64, 96, small_pair.explainer.model)
    activations = seed.FORWARD_ACTIVATIONS * 4 * 64 * 96 * small_pair.config.width
    assert estimate.forward - activations == held


def test_a_pass_over_the_limit_is_refused_naming_estimate_and_limit(small_pair):
    estimate = memory.pass_memory(1024, 1024, small_pair.explainer.model)
    assert estimate.summaries > 2**30  # histograms: about 1 KiB a row, a million rows
    limit = estimate.total // 2
    expected = (
        rf"1024x1024 .* about {estimate.total / 2**30:.1f} GiB .* the {limit / 2**30:.1f} GiB"
    )
    with pytest.raises(ValueError, match=expected):
        memory.check_pass_memory(1024, 1024, small_pair.explainer.model, available=limit)
    assert (
        memory.check_pass_memory(64, 64, small_pair.explainer.model, available=2**30).total < 2**30
    )
