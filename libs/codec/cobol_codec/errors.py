"""Errors the codec raises. Everything a caller can trigger with bad input is a CodecError."""


class CodecError(ValueError):
    """Base class: the input or the request cannot be honoured."""


class CorruptFrameError(CodecError):
    """A container or frame is damaged, truncated or hostile."""


class DictionaryError(CodecError):
    """A frame needs a dictionary that is missing, or a different one was given."""
