"""The codec registry: which compiled codec reads and writes each layer id of a format version.

One folder per codec (`codecs/<name>/`: its Cython module(s) and a `spec.md` of its payload);
`common.pxd` holds what they share (varints, bit I/O, the error convention). A frame names
layers by id; the container's format version (the file header's version byte) selects the
registry entry, so a codec whose payload changes gets a new entry beside the old one and old
containers keep decoding.

`load(layer_id)` imports a codec's module; a build that lacks it fails loudly.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import CorruptFrameError

FORMAT_VERSION = 1        # the container version this encoder writes


@dataclass(frozen=True)
class Codec:
    layer: int            # layer id in a frame (1 and 2 split a frame, 3-7 are stream stages)
    name: str             # its folder under codecs/
    module: str           # the module that holds its encoder and decoder

    def load(self):
        try:
            return importlib.import_module(f"{__name__}.{self.module}")
        except ImportError as exc:  # the extension was not built: say how to fix it
            raise ImportError(f"codec {self.name} ({self.module}) is not built ({exc}); run `make build`") from exc


# (layer id, container format version) -> codec
REGISTRY: dict[tuple[int, int], Codec] = {
    (1, 1): Codec(1, "tokens", "tokens.tokens"),
    (2, 1): Codec(2, "structure", "structure"),
    (3, 1): Codec(3, "delta", "delta.delta"),
    (4, 1): Codec(4, "bitpack", "bitpack.bitpack"),
    (5, 1): Codec(5, "rle", "rle.rle"),
    (6, 1): Codec(6, "match", "match.match"),
    (7, 1): Codec(7, "entropy", "entropy.entropy"),
}

_loaded: dict[tuple[int, int], object] = {}


def codec(layer_id: int, version: int = FORMAT_VERSION) -> Codec:
    try:
        return REGISTRY[(layer_id, version)]
    except KeyError:
        raise CorruptFrameError(f"no codec for layer id {layer_id} in format version {version}") from None


def load(layer_id: int, version: int = FORMAT_VERSION):
    """The module of the codec for `layer_id` (cached after the first import)."""
    key = (layer_id, version)
    mod = _loaded.get(key)
    if mod is None:
        mod = _loaded[key] = codec(layer_id, version).load()
    return mod
