"""Background jobs: long analyses run on a thread pool, never inside the request.

A job is a resource (``/jobs/{id}``) with ``status`` (queued, running, succeeded, failed),
``progress`` (0–1), a message, and on success a JSON ``result`` and optional files.  Jobs live
in the service's memory: a restart forgets them (their output files stay in the scratch dir).
"""

from __future__ import annotations

import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
    def __init__(self, *, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="landplan-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[Job], dict]) -> Job:
        job = Job(id=uuid.uuid4().hex, kind=kind)
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
            job.status, job.error = "failed", str(exc)
            job.report(job.progress, "failed")
        except Exception:
            import logging

            logging.getLogger("landplan.api").error(
                "job %s failed\n%s", job.id, traceback.format_exc()
            )
            job.status, job.error = "failed", "unexpected error; see the service log"
            job.report(job.progress, "failed")

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"no job {job_id!r} (jobs are kept in memory until the service restarts)"
            )
        return job

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if j.status in ("succeeded", "failed")]
        for j in done[: max(0, len(self._jobs) - MAX_KEPT)]:
            self._jobs.pop(j.id, None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
