"""Error types shared by the stages. Only `TransientError` is ever retried.

Each carries the command line's exit code (docs/operations/exit-codes.md): 1 a night that ran
but failed its job (`NightFailed`), 2 bad input or settings (the default), 3 a warehouse that
cannot be read (`WarehouseError`), 75 a day another process is writing (`DayLocked`)."""


class CallscopeError(Exception):
    """Base of every error callscope raises on purpose."""

    exit_code = 2  # what the command line exits with: bad input or settings


class BadRecordingError(CallscopeError):
    """A recording that cannot be transcribed as it is (missing, empty, corrupt, ...)."""


class TransientError(CallscopeError):
    """A fault that may pass on its own (storage hiccup, GPU busy): worth a retry."""


class ConfigError(CallscopeError):
    """The configuration file or an override is missing or invalid."""


class LocationError(ConfigError):
    """A location setting (`warehouse`, `handoff`) names nothing a file system opens: an unknown
    URI scheme, no bucket, no credentials. The message names the setting, the value and the fix."""

    def __init__(self, setting: str, value: str, problem: str, fix: str):
        self.setting, self.value, self.problem = setting, value, problem
        super().__init__(f"{setting} {value} cannot be opened: {problem}; {fix}")


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


class PartSlotStuck(CallscopeError):
    """A worker's slot is held by a part process that lives on but no longer beats (hung)."""


class NotALocalFolder(LocationError, WarehouseError):
    """A part that needs a POSIX folder (the day lock, the search index, the web app's users)
    was asked for one where `warehouse` is an object store or another remote file system."""

    exit_code = 2  # a setting to change, not an unreadable warehouse

    def __init__(self, setting: str, value: str, needs: str, instead: str = ""):
        self.setting, self.value, self.needs = setting, value, needs
        self.problem = f"not a local folder, and {needs} needs one"
        CallscopeError.__init__(
            self,
            f"{setting} {value} is not a local folder: {needs} needs one; {instead}mount the "
            f"bucket (s3fs, gcsfuse, NFS ...) and set {setting} to the mounted folder",
        )


class WarehouseMissing(WarehouseError):
    """A command that reads the warehouse was pointed at a folder that does not exist."""

    def __init__(self, location: str):
        self.location = location
        super().__init__(
            f"no warehouse at {location}: run `callscope nightly` first to fill it, or pass "
            "--warehouse (or set warehouse in the config) to the one the nights write"
        )


class NightFailed(CallscopeError):
    """The night ran but did not do its job: every call failed, more than
    flow.max_failed_share of them did, or a day step failed. Its error rows are written;
    `summary` is the night's summary (NightSummary.as_dict) where there is one."""

    exit_code = 1

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message)
        self.summary = summary
