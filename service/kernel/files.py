"""Files that hold private data (ID numbers, phones, password hashes): the database, its
backups, exports, uploads waiting to be applied. Each is created readable by its owner
only (0600) from the first byte, in a directory only its owner may enter when we make
that directory (0700): a chmod afterwards would leave a moment, or after a crash a
file, that anyone on the host could read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


class UnsafeDirectory(Exception):
    """A directory for private files that another user owns: the message says which."""


def private_directory(directory: Path) -> Path:
    """``directory``, made with every missing parent as 0700 (``Path.mkdir(parents=True)``
    gives the parents the default mode)."""
    missing = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        path.mkdir(mode=PRIVATE_DIRECTORY, exist_ok=True)
    return directory


def owned_private_directory(directory: Path) -> Path:
    """``directory`` made 0700 if missing; refused (UnsafeDirectory) when it is not a
    directory of this process's user, who alone may then read, swap or delete its files.
    An existing directory of ours that others may enter is narrowed to 0700."""
    private_directory(directory)
    found = directory.lstat()
    if not stat.S_ISDIR(found.st_mode):
        raise UnsafeDirectory(f"{directory} is not a directory")
    if found.st_uid != os.getuid():
        raise UnsafeDirectory(
            f"{directory} belongs to another user (uid {found.st_uid}); "
            "point the setting to a directory of the user running Jifen"
        )
    if stat.S_IMODE(found.st_mode) & 0o077:
        directory.chmod(PRIVATE_DIRECTORY)
    return directory


def create_private(path: Path) -> None:
    """Create ``path`` empty and 0600; FileExistsError if it exists (a file someone else
    made keeps the mode they gave it, so it is never reused)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` (replacing a file there) as a new 0600 file: written
    beside it, then renamed into place, so a reader never sees part of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
