"""Client SDK for the ``JobService`` (the CLI and the stage drivers use this)."""

from __future__ import annotations

from collections.abc import Iterator

from distillery.core.grpc_client import ServiceClient
from distillery.v1 import jobs_pb2 as pb
from distillery.v1 import jobs_pb2_grpc as pb_grpc


class JobClient(ServiceClient):
    stub_class = pb_grpc.JobServiceStub

    def submit(self, spec_text: str) -> pb.DistillJob:
        return self._stub.SubmitJob(pb.SubmitDistillJobRequest(spec=spec_text), metadata=self._metadata)

    def get(self, job_id: str) -> pb.DistillJob:
        return self._stub.GetJob(pb.JobRequest(id=job_id), metadata=self._metadata)

    def list(self, all_teams: bool = False) -> list[pb.DistillJob]:
        return list(self._stub.ListJobs(pb.ListDistillJobsRequest(all_teams=all_teams), metadata=self._metadata).jobs)

    def cancel(self, job_id: str) -> pb.DistillJob:
        return self._stub.CancelJob(pb.JobRequest(id=job_id), metadata=self._metadata)

    def watch(self, job_id: str) -> Iterator[pb.DistillJobEvent]:
        return self._stub.WatchJob(pb.JobRequest(id=job_id), metadata=self._metadata)

    def logs(self, job_id: str, stage: str = "") -> str:
        return self._stub.GetLogs(pb.LogsRequest(id=job_id, stage=stage), metadata=self._metadata).text

    def stage_request(self, run_id: str) -> pb.StageRequest:
        return self._stub.GetStageRun(pb.StageRunRef(run_id=run_id), metadata=self._metadata)

    def report_stage(self, run_id: str, *, result: pb.StageResult | None = None, error: str = "",
                     retryable: bool = False) -> None:
        self._stub.ReportStageRun(pb.StageRunReport(run_id=run_id, result=result, error=error, retryable=retryable),
                                  metadata=self._metadata)
