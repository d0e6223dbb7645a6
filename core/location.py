"""Where the warehouse and the hand-off live: a local folder or a URI, opened in one place.

`warehouse` (and `handoff`) take a local path (absolute, or relative to the folder the command
runs in) or a URI that `pyarrow.fs.FileSystem.from_uri` opens:

- `file:///srv/callscope/warehouse`: a local folder (the same as the plain path);
- `s3://bucket/prefix`: S3 or an S3-compatible store (`?region=...&endpoint_override=...` as
  pyarrow reads them); credentials from the environment ($AWS_ACCESS_KEY_ID and
  $AWS_SECRET_ACCESS_KEY, $AWS_PROFILE, ~/.aws/, a container or instance role), never from the
  URI, or `?anonymous=true` for a public bucket;
- `gs://bucket/prefix` (Google Cloud Storage), `hdfs://namenode:8020/path`, `abfs://...`.

`open_filesystem` turns one into (file system, root path inside it); `local_folder` is the one
way to ask for a POSIX folder (the day lock, the search index, the web app's users), failing
with one error (core.errors.NotALocalFolder) that names the setting and how to fix it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from callscope.core.errors import LocationError, NotALocalFolder

# URI scheme -> what it is (the schemes pyarrow.fs opens that make sense for a warehouse)
SCHEMES = {
    "file": "a local folder",
    "local": "a local folder",
    "s3": "S3",
    "gs": "Google Cloud Storage",
    "gcs": "Google Cloud Storage",
    "hdfs": "HDFS",
    "viewfs": "HDFS",
    "abfs": "Azure",
    "abfss": "Azure",
}
LOCAL_SCHEMES = {"file", "local"}
BUCKET_SCHEMES = {"s3", "gs", "gcs"}
# a scheme of two letters or more: `C:` stays a (Windows) path, `s3:bucket` is not a folder
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_SECRETS = {"access_key", "secret_key", "session_token"}
_EC2_VENDOR_FILES = (
    "/sys/devices/virtual/dmi/id/sys_vendor",
    "/sys/devices/virtual/dmi/id/board_vendor",
)


def is_uri(location: str | Path | None) -> bool:
    """A URI (`scheme:...`) rather than a local path; a Path is always a path."""
    return isinstance(location, str) and _SCHEME.match(location) is not None


def scheme_of(location: str | Path) -> str | None:
    found = _SCHEME.match(location) if isinstance(location, str) else None
    return found.group(1).lower() if found else None


def is_local(location: str | Path) -> bool:
    """A local folder: a path, or a file:// URI."""
    return not is_uri(location) or scheme_of(location) in LOCAL_SCHEMES


def join(location: str | Path, *parts: str) -> str | Path:
    """`location` with `parts` appended to its path (before a URI's query)."""
    if not is_uri(location):
        return Path(location).joinpath(*parts)
    split = urlsplit(str(location))
    path = "/".join([split.path.rstrip("/"), *parts])
    if not split.netloc and not split.path.startswith("/"):
        path = path.lstrip("/")
    return urlunsplit(split._replace(path=path))


def open_filesystem(location: str | Path, setting: str = "warehouse"):
    """(pyarrow file system, path of `location` inside it) for a local path or a URI; an
    unknown scheme, a missing bucket, S3 without credentials or anything pyarrow cannot open
    is a LocationError naming `setting`. Nothing is read or written here (S3 without a
    `region` in the URI or the environment asks AWS for the bucket's region)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    if not is_uri(location):
        return pafs.LocalFileSystem(), str(Path(location))
    value = str(location)
    scheme = _check_scheme(value, setting)
    split = urlsplit(value)
    query = {key.lower() for key, _ in parse_qsl(split.query, keep_blank_values=True)}
    if query & _SECRETS:
        raise LocationError(
            setting,
            shown(value),
            "credentials in the URI would be printed and logged with it",
            "give them in the environment ($AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, or "
            "$AWS_PROFILE) and leave access_key, secret_key and session_token out of the URI",
        )
    if scheme in BUCKET_SCHEMES and not split.netloc:
        raise LocationError(
            setting,
            shown(value),
            "no bucket named",
            f"write it as {scheme}://BUCKET/PREFIX {_where(setting)}",
        )
    if scheme == "s3" and not _s3_credentials(split.query):
        raise LocationError(
            setting,
            shown(value),
            "no AWS credentials found (none in $AWS_ACCESS_KEY_ID, $AWS_PROFILE, ~/.aws/ or a "
            "container role, and no instance role to ask)",
            "give them in the environment ($AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, or "
            "$AWS_PROFILE), add ?anonymous=true for a public bucket, or set "
            f"{setting} to a local folder",
        )
    try:
        filesystem, path = pafs.FileSystem.from_uri(value)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LocationError(
            setting,
            shown(value),
            _reason(exc),
            f"set {setting} to a local folder or a URI such as file:///srv/warehouse or "
            f"s3://bucket/prefix {_where(setting)}",
        ) from exc
    return filesystem, path.rstrip("/") or path


def local_folder(
    location: str | Path, setting: str = "warehouse", needs: str = "this", instead: str = ""
) -> Path:
    """The local folder `location` names (a path, or a file:// URI); for any other file system
    NotALocalFolder, the one error saying that `needs` wants a POSIX folder and how to give it
    one (`instead`: another setting that can, e.g. "set search.index to a local folder, or ")."""
    if not is_uri(location):
        return Path(location)
    if scheme_of(location) in LOCAL_SCHEMES:
        return Path(open_filesystem(location, setting)[1])
    _check_scheme(str(location), setting)
    raise NotALocalFolder(setting, shown(location), needs, instead)


def shown(location: str | Path) -> str:
    """`location` as messages print it (no query values that could be secrets)."""
    if not is_uri(location):
        return str(location)
    split = urlsplit(str(location))
    if not split.query:
        return str(location)
    query = "&".join(
        f"{key}=***" if key.lower() in _SECRETS else f"{key}={value}" if value else key
        for key, value in parse_qsl(split.query, keep_blank_values=True)
    )
    return urlunsplit(split._replace(query=query))


def _check_scheme(value: str, setting: str) -> str:
    scheme = scheme_of(value) or ""
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES if s not in ("local", "gcs", "viewfs"))
        folder = "" if "://" in value else f" (a folder whose name has a colon: ./{value})"
        raise LocationError(
            setting,
            shown(value),
            f"{scheme}: is not a file system callscope can use",
            f"set {setting} to a local folder{folder} or a URI ({known}) {_where(setting)}",
        )
    return scheme


def _where(setting: str) -> str:
    return f"in the config file, ${_env_name(setting)} or --{setting.replace('_', '-')}"


def _env_name(setting: str) -> str:
    return "CALLSCOPE_" + setting.upper().replace(".", "__")


def _s3_credentials(query: str) -> bool:
    """Whether the AWS SDK has credentials to find without asking the network for them: the
    URI's anonymous=true or role_arn, the environment, the shared files, a container role; an
    instance role only on an EC2 machine (or where $AWS_EC2_METADATA_DISABLED is false)."""
    options = {key.lower(): value.lower() for key, value in parse_qsl(query)}
    if options.get("anonymous") in ("true", "1", "yes") or "role_arn" in options:
        return True
    env = os.environ
    named = (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    )
    if any(env.get(name) for name in named):
        return True
    files = [env.get("AWS_SHARED_CREDENTIALS_FILE"), env.get("AWS_CONFIG_FILE")]
    try:
        home = Path.home()
    except RuntimeError:
        home = None
    if home is not None:
        files[0] = files[0] or str(home / ".aws" / "credentials")
        files[1] = files[1] or str(home / ".aws" / "config")
    if any(name and Path(name).is_file() for name in files):
        return True
    metadata = env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower()
    if metadata == "true":
        return False
    return metadata == "false" or _on_ec2()


def _on_ec2() -> bool:
    for name in _EC2_VENDOR_FILES:
        try:
            if "amazon" in Path(name).read_text(encoding="utf-8", errors="replace").lower():
                return True
        except OSError:
            continue
    return False


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
