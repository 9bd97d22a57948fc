"""Each example runs in a reduced form, so the examples never rot."""

from __future__ import annotations

import numpy as np
import pytest

from examples import xor


def test_xor_predictions_on_the_right_side(capsys: pytest.CaptureFixture[str]) -> None:
    predictions = xor.main(["--epochs", "3000", "--seed", "0"])
    np.testing.assert_array_equal(predictions > 0.5, [False, True, True, False])
    assert "[1 1] ->" in capsys.readouterr().out
