"""Single-row prediction through LightGBM's fast C API path.

``Booster.predict`` rebuilds its prediction configuration on every call, which dominates
the cost of scoring one row. LightGBM's C API has a path made for exactly this case:
``LGBM_BoosterPredictForMatSingleRowFastInit`` prepares the configuration once and
``LGBM_BoosterPredictForMatSingleRowFast`` then scores a row. The same model gives the
same numbers either way (tested). One configuration per thread, as LightGBM requires.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading

import lightgbm as lgb
import numpy as np
from lightgbm.basic import _LIB, _safe_call

_PREDICT_NORMAL = 0
_DTYPE_FLOAT64 = 1


class FastRowPredictor:
    """``predict(x)`` of one float64 row, single-threaded, without per-call setup."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster  # keeps the handle alive
        self.ncol = booster.num_feature()
        self._local = threading.local()
        self._configs: list[ctypes.c_void_p] = []
        self._lock = threading.Lock()

    def _config(self) -> tuple[ctypes.c_void_p, np.ndarray, ctypes.c_int64]:
        state = getattr(self._local, "state", None)
        if state is None:
            handle = ctypes.c_void_p()
            _safe_call(
                _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    self.booster._handle,
                    ctypes.c_int(_PREDICT_NORMAL),
                    ctypes.c_int(0),
                    ctypes.c_int(-1),
                    ctypes.c_int(_DTYPE_FLOAT64),
                    ctypes.c_int32(self.ncol),
                    ctypes.c_char_p(b"num_threads=1"),
                    ctypes.byref(handle),
                )
            )
            with self._lock:
                self._configs.append(handle)
            state = (handle, np.zeros(1, dtype=np.float64), ctypes.c_int64(0))
            self._local.state = state
        return state

    def predict(self, x: np.ndarray) -> float:
        """The booster's output (probability for a binary model) for one row."""
        if x.dtype != np.float64 or not x.flags.c_contiguous or x.shape != (self.ncol,):
            x = np.ascontiguousarray(x, dtype=np.float64).reshape(self.ncol)
        handle, out, out_len = self._config()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(
                handle,
                ctypes.c_void_p(x.ctypes.data),
                ctypes.byref(out_len),
                ctypes.c_void_p(out.ctypes.data),
            )
        )
        return float(out[0])

    def __del__(self) -> None:
        for handle in getattr(self, "_configs", []):
            with contextlib.suppress(Exception):  # at interpreter shutdown
                _LIB.LGBM_FastConfigFree(handle)
