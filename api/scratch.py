"""Scratch folders of uploads and jobs: made per request or job, removed when it ends, and
stale ones (left by a killed process) cleared at start-up.

Folder names carry the owning process id (``landplan-upload-<pid>-xxxx``), so a worker
starting beside others removes only folders whose process is gone, or that are older than
``stale_s`` whatever their owner.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from landplan.core.parallel import process_alive

KINDS = ("upload", "job", "static")
_NAME = re.compile(r"^landplan-(?:upload|job|static)-(?:(\d+)-)?")
log = logging.getLogger("landplan.api")


def root(upload_dir: Path | None) -> Path:
    folder = Path(upload_dir) if upload_dir else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make(kind: str, upload_dir: Path | None) -> Path:
    """A new private scratch folder for one upload or job."""
    if kind not in KINDS:
        raise ValueError(kind)
    return Path(tempfile.mkdtemp(prefix=f"landplan-{kind}-{os.getpid()}-", dir=root(upload_dir)))


def remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def clear_stale(upload_dir: Path | None, *, stale_s: float) -> list[Path]:
    """Remove scratch folders whose process has died, or older than ``stale_s``."""
    removed = []
    now = time.time()
    try:
        entries = list(root(upload_dir).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _NAME.match(entry.name)
        if m is None or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue
        owner = int(m.group(1)) if m.group(1) else None
        if (owner is not None and not process_alive(owner)) or age > stale_s:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        log.info({"msg": "stale scratch folders removed", "count": len(removed)})
    return removed
