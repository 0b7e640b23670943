"""`group.cancel()` against a server from before POST jobs/cancel (a stand-in client): one
cancel per job that is still active, as before, and none for a job that had ended."""

from __future__ import annotations

from jupyter_bumps_remote.kernel.client import RemoteError
from jupyter_bumps_remote.kernel.group import JobGroup
from jupyter_bumps_remote.kernel.job import RemoteJob


class OldServer:
    def __init__(self, statuses: dict[str, str]):
        self.statuses = statuses
        self.cancelled: list[str] = []

    def cancel_many(self, job_ids: list[str]) -> dict:
        raise RemoteError(404, "no such route")

    def get(self, job_id: str) -> dict:
        return {"id": job_id, "status": self.statuses[job_id]}

    def cancel(self, job_id: str) -> dict:
        self.cancelled.append(job_id)
        self.statuses[job_id] = "cancelled"
        return {"id": job_id, "status": "cancelled"}


def test_an_old_server_gets_one_cancel_per_active_job():
    server = OldServer({"a": "queued", "b": "succeeded", "c": "running"})
    members = [RemoteJob(server, {"id": i, "status": "queued"}) for i in "abc"]  # type: ignore[arg-type]
    JobGroup("old", "tag", members).cancel()
    assert server.cancelled == ["a", "c"]
    assert [job._record["status"] for job in members] == ["cancelled", "succeeded", "cancelled"]
