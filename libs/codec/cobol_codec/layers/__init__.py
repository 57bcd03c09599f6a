"""The seven Cython layers. `load()` imports them; a build that lacks one fails loudly."""
from __future__ import annotations

import importlib

NAMES = {
    1: "l1_tokens",
    2: "l2_structure",
    3: "l3_delta",
    4: "l4_bitpack",
    5: "l5_rle",
    6: "l6_match",
    7: "l7_entropy",
}

_loaded: dict[int, object] = {}


def load(layer_id: int):
    mod = _loaded.get(layer_id)
    if mod is None:
        name = NAMES[layer_id]
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ImportError as exc:  # the extension was not built: say how to fix it
            raise ImportError(f"codec layer {name} is not built ({exc}); run `make setup`") from exc
        _loaded[layer_id] = mod
    return mod
