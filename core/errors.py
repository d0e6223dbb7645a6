"""Error types shared by the stages. Only `TransientError` is ever retried."""


class CallscopeError(Exception):
    """Base of every error callscope raises on purpose."""

    exit_code = 2  # what the command line exits with: bad input or settings


class BadRecordingError(CallscopeError):
    """A recording that cannot be transcribed as it is (missing, empty, corrupt, ...)."""


class TransientError(CallscopeError):
    """A fault that may pass on its own (storage hiccup, GPU busy): worth a retry."""


class ConfigError(CallscopeError):
    """The configuration file or an override is missing or invalid."""


class ModelError(CallscopeError):
    """A model cannot be found or loaded; the message names the setting to fix."""


class WarehouseError(CallscopeError):
    """The warehouse cannot be read or written as asked."""

    exit_code = 3


class PartitionUnreadable(WarehouseError):
    """A stored table partition cannot be read (corrupt, truncated, unreadable)."""

    def __init__(self, table: str, day, path: str, reason: str):
        self.table, self.day, self.path, self.reason = table, day, path, reason
        super().__init__(
            f"the {table} table of {day} cannot be read ({path}: {reason}); restore it from "
            f"backup, or delete that folder and run the night of {day} again"
        )

    @property
    def public_message(self) -> str:
        """The message without server paths, for people who cannot act on them."""
        return (
            f"the {self.table} table of {self.day} cannot be read; an administrator must restore it"
        )


class DayLocked(WarehouseError):
    """Another process holds the day's lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class ShardSlotStuck(CallscopeError):
    """A worker's slot is held by a shard process that lives on but no longer beats (hung)."""
