"""Quality metrics (`outputs/metrics.py`): metrics a signal does not define are NaN or infinite and print so."""

from __future__ import annotations

import math

import numpy as np

from sirenkit.outputs.audio import snr_db
from sirenkit.outputs.metrics import format_metric, psnr_from_mse
from sirenkit.recipes.derivative_maps import map_psnr, relative_error


def test_undefined_metrics_are_nan_or_infinite_and_print_as_such():
    flat = np.zeros((4, 4))
    assert math.isnan(psnr_from_mse(0.1, data_range=0.0)) and psnr_from_mse(0.0, data_range=0.0) == math.inf
    assert math.isnan(map_psnr(flat + 1, flat)) and map_psnr(flat, flat) == math.inf
    assert relative_error(flat + 1, flat) == math.inf and relative_error(flat, flat) == 0.0
    assert snr_db(flat, flat + 0.1) == -math.inf and snr_db(flat, flat) == math.inf
    assert [format_metric(v, ".2f", " dB") for v in (math.nan, None, math.inf, 1.234)] == [
        "undefined",
        "undefined",
        "inf dB",
        "1.23 dB",
    ]
