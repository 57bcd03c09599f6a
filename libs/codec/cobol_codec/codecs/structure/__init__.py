"""The structure codec (L2): detects what a frame is from its content and splits it into
homogeneous streams; one module per model. See spec.md.

analyze(data) -> (model, params, streams) or None
reconstruct(model, params, payloads, out_len) -> bytes

Decoders never trust their inputs: every count, offset and value is checked against the
expected output size and the stream sizes, and anything inconsistent raises ValueError.
"""
from __future__ import annotations

from .delimited import _analyze_csv, _reconstruct_csv
from .legacy_records import _analyze_fixed, _analyze_varrec, _reconstruct_fixed, _reconstruct_varrec
from .logs import _analyze_log, _reconstruct_log
from .records import _analyze_records, _reconstruct_records
from .shared import (MODEL_CSV, MODEL_FIXED, MODEL_LOG, MODEL_RECORDS, MODEL_VARREC, MODELS, _MIN_INPUT,
                     _is_text, _lines)

__all__ = ["MODELS", "MODEL_LOG", "MODEL_CSV", "MODEL_FIXED", "MODEL_VARREC", "MODEL_RECORDS",
           "analyze", "reconstruct"]


def analyze(data, model=None):
    """Pick a structure model for `data`; None when nothing pays. `model` (one of MODELS,
    typically what a sample of the same frame chose) runs only that model's analysis."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("analyze expects bytes")
    if model is not None and model not in (MODEL_LOG, MODEL_CSV, MODEL_RECORDS):
        raise ValueError(f"analyze: model {model!r} is not one the encoder picks")
    data = bytes(data)
    n = len(data)
    if n < _MIN_INPUT:
        return None
    if model == MODEL_RECORDS or (model is None and not _is_text(data)):
        return _analyze_records(data)
    starts, ends, final_nl = _lines(data)
    if len(starts) < 8:
        return None
    res = _analyze_csv(data, starts, ends, final_nl) if model in (None, MODEL_CSV) else None
    if res is None and model in (None, MODEL_LOG):
        res = _analyze_log(data, starts, ends, final_nl)
    return res


_RECON = {MODEL_LOG: _reconstruct_log, MODEL_CSV: _reconstruct_csv,
          MODEL_FIXED: _reconstruct_fixed, MODEL_VARREC: _reconstruct_varrec,
          MODEL_RECORDS: _reconstruct_records}


def reconstruct(model, params, streams, out_len):
    """Exact inverse of analyze. Raises ValueError on damaged or inconsistent input."""
    if not isinstance(out_len, int) or out_len < 0:
        raise ValueError(f"bad out_len {out_len!r}")
    fn = _RECON.get(model) if isinstance(model, int) else None
    if fn is None:
        raise ValueError(f"unknown structure model {model!r}")
    if not isinstance(params, (bytes, bytearray, memoryview)):
        raise ValueError("params must be bytes")
    try:
        streams = list(streams)
    except TypeError:
        raise ValueError("streams must be a list of payloads")
    try:
        out = fn(bytes(params), streams, out_len)
    except ValueError:
        raise
    except (IndexError, KeyError, OverflowError, TypeError, ZeroDivisionError, MemoryError) as e:
        raise ValueError(f"structure model {model}: damaged input ({type(e).__name__}: {e})") from None
    if len(out) != out_len:
        raise ValueError("structure model: output size mismatch")
    return out
