"""Secrets from the environment or from files, one way for every secret the product reads.

A secret `NAME` is read from `$NAME`, or from the file that `$NAME_FILE` names (Compose
secrets under /run/secrets/, systemd credentials under $CREDENTIALS_DIRECTORY): its contents
with surrounding white space stripped. Setting both is an error naming both, so that a value
left behind in an environment file never silently overrides the file an operator rotated.

`check_secret` refuses the placeholders of the example files (`change-me...`), whatever their
length, and values shorter than a minimum.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from callscope.core.errors import ConfigError

FILE_SUFFIX = "_FILE"
SESSION_SECRET = "CALLSCOPE_SECRET_KEY"  # signs the web console's session cookies
SESSION_SECRET_MIN = 32  # characters
# what example files and tutorials put where a secret goes; never accepted as one
_PLACEHOLDER = re.compile(r"^(change[-_ ]?me|replace[-_ ]?me|placeholder|example|your[-_ ])", re.I)


class SecretError(ConfigError):
    """A secret that cannot be read or used; the message names the variable or the file."""


def read_secret(name: str) -> str | None:
    """`$name`, else the stripped contents of the file `$name_FILE` names; None when neither is
    set (an empty variable counts as unset)."""
    value = os.environ.get(name, "")
    path = os.environ.get(name + FILE_SUFFIX, "")
    if value and path:
        raise SecretError(
            f"both ${name} and ${name}{FILE_SUFFIX} are set: keep one (the file, {path}, is "
            "the safer place)"
        )
    if value:
        return value
    if not path:
        return None
    return _read_file(name, Path(path))


def _read_file(name: str, path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(
            f"${name}{FILE_SUFFIX} names {path}, which cannot be read "
            f"({exc.strerror or exc}): create it, or give this user read access"
        ) from exc
    except UnicodeDecodeError as exc:
        raise SecretError(f"{path} (${name}{FILE_SUFFIX}) is not UTF-8 text") from exc
    if not value:
        raise SecretError(f"{path} (${name}{FILE_SUFFIX}) is empty: write the secret into it")
    return value


def is_placeholder(value: str) -> bool:
    return _PLACEHOLDER.match(value.strip()) is not None


def check_secret(name: str, value: str, min_length: int) -> str:
    """`value` when it may serve as the secret `name`; else a SecretError saying why."""
    if is_placeholder(value):
        raise SecretError(
            f"${name} is a placeholder from an example (change-me...), not a secret: "
            f"{generate_hint()}"
        )
    if len(value) < min_length:
        raise SecretError(
            f"${name} is too short ({len(value)} characters): use at least {min_length} "
            f"random characters, {generate_hint()}"
        )
    return value


def session_secret() -> str | None:
    """The web console's session secret (read and checked), or None when it is not set."""
    value = read_secret(SESSION_SECRET)
    return None if value is None else check_secret(SESSION_SECRET, value, SESSION_SECRET_MIN)


def generate_hint() -> str:
    return 'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
