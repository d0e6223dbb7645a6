"""Error types shared by the stages. Only `TransientError` is ever retried."""


class CallscopeError(Exception):
    """Base of every error callscope raises on purpose."""


class BadRecordingError(CallscopeError):
    """A recording that cannot be transcribed as it is (missing, empty, corrupt, ...)."""


class TransientError(CallscopeError):
    """A fault that may pass on its own (storage hiccup, GPU busy): worth a retry."""
