"""What ``--out`` means, the same in every command.

- A path with a file suffix is the file to write; its folder is created.
- Any other path (an existing folder, a name ending in ``/``, or a name with no suffix) is a folder,
  created when missing, and the command writes its usual file name(s) inside it.

A path that cannot be written raises :class:`OutputError` with one line saying why, before any work.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutputError(ValueError):
    """``--out`` names something that cannot be written."""


def _is_folder(arg: str) -> bool:
    p = Path(arg)
    return arg.endswith(("/", os.sep)) or p.is_dir() or not p.suffix


def _writable_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OutputError(f"cannot write into {folder}: a file of that name is in the way") from exc
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {folder}: permission denied")
    return folder


def output_file(arg: str | None, default: Path, suffixes: tuple[str, ...]) -> Path:
    """The file a one-file command writes: ``arg`` as above, ``default`` when not given.

    ``suffixes`` are the endings the command can write (the first is used inside a folder)."""
    if not arg:
        path = default
    elif _is_folder(arg):
        path = Path(arg) / default.name
    else:
        path = Path(arg)
        if path.suffix.lower() not in suffixes:
            raise OutputError(f"--out {arg}: this command writes {' or '.join(suffixes)} files (or a folder)")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    _writable_folder(path.parent)
    return path


def output_folder(arg: str | None, default: Path) -> Path:
    """The folder a many-file command writes into, created when missing."""
    path = Path(arg) if arg else default
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {path}: a file of that name is in the way; this command writes a folder")
    return _writable_folder(path)
