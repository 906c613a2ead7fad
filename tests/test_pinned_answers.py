"""Refactoring never changes an answer: the estimators' outputs on ``load_digits``
equal those pinned in ``tests/data/pinned_answers.npz`` (see ``make_pinned_answers.py``)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

sys.path.insert(0, str(Path(__file__).with_name("data")))
from make_pinned_answers import PATH, answers  # noqa: E402


@pytest.fixture(scope="module")
def pinned_and_current():
    with np.load(PATH) as pinned:
        return dict(pinned), answers()


def test_the_same_arrays_are_pinned(pinned_and_current):
    pinned, current = pinned_and_current
    assert sorted(pinned) == sorted(current)


@pytest.mark.parametrize("name", sorted(np.load(PATH).files))
def test_answer_unchanged(pinned_and_current, name):
    pinned, current = pinned_and_current
    if np.issubdtype(pinned[name].dtype, np.integer):
        assert_array_equal(current[name], pinned[name])
    else:
        assert_allclose(current[name], pinned[name], rtol=1e-6, atol=1e-9)
