"""Background jobs: long analyses run on a thread pool, never inside the request.

A job is a resource (``/jobs/{id}``) with ``status`` (queued, running, succeeded, failed),
``progress`` (0–1), a message, and on success a JSON ``result`` and optional files.  Jobs live
in the service's memory: a restart forgets them.  Each job works in its own scratch folder
(:mod:`landplan.api.scratch`): a failed job's folder is removed at once, a succeeded job's
when its files expire (``files_ttl_s``), when it is evicted, or at shutdown.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from landplan.api import scratch
from landplan.api.errors import scrub

from landplan.core.errors import LandplanError, NotFoundError

MAX_KEPT = 200


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    result: dict | None = None
    error: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    scratch: Path | None = field(default=None, repr=False)
    finished: float | None = field(default=None, repr=False)

    def report(self, progress: float, message: str = "") -> None:
        self.progress = max(0.0, min(1.0, float(progress)))
        self.message = message
        self.updated_at = _now()

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 4),
            "message": self.message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "result": self.result,
            "error": self.error,
            "files": sorted(self.files),
        }


class JobRunner:
    def __init__(
        self,
        *,
        workers: int = 2,
        upload_dir: Path | None = None,
        files_ttl_s: float = 3600,
        roots: tuple[str, ...] = (),
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="landplan-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._upload_dir = upload_dir
        self._ttl = files_ttl_s
        self._roots = roots

    def submit(self, kind: str, work: Callable[[Job], dict]) -> Job:
        """Run ``work(job)`` in the background; it may write into ``job.scratch``."""
        job = Job(id=uuid.uuid4().hex, kind=kind, scratch=scratch.make("job", self._upload_dir))
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], dict]) -> None:
        job.status = "running"
        job.report(0.0, "started")
        try:
            job.result = work(job)
            job.status = "succeeded"
            job.report(1.0, "done")
        except LandplanError as exc:
            job.status, job.error = "failed", scrub(str(exc), self._roots)
            job.report(job.progress, "failed")
        except Exception:
            import logging

            logging.getLogger("landplan.api").error(
                "job %s failed\n%s", job.id, traceback.format_exc()
            )
            job.status, job.error = "failed", "unexpected error; see the service log"
            job.report(job.progress, "failed")
        finally:
            job.finished = time.monotonic()
            if job.status == "failed" or not job.files:
                scratch.remove(job.scratch)
                job.files = {}

    def get(self, job_id: str) -> Job:
        with self._lock:
            self._expire()
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"no job {job_id!r} (jobs are kept in memory until the service restarts)"
            )
        return job

    def _expire(self) -> None:
        """Delete the files of jobs that finished more than ``files_ttl_s`` ago."""
        now = time.monotonic()
        for j in self._jobs.values():
            if j.files and j.finished is not None and now - j.finished > self._ttl:
                scratch.remove(j.scratch)
                j.files = {}

    def _trim(self) -> None:
        self._expire()
        done = [j for j in self._jobs.values() if j.finished is not None]
        for j in done[: max(0, len(self._jobs) - MAX_KEPT)]:
            scratch.remove(j.scratch)
            self._jobs.pop(j.id, None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for j in list(self._jobs.values()):
            if j.finished is not None:
                scratch.remove(j.scratch)
