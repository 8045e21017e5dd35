"""The jobs controller: one distillation job = problems -> teacher (verified thoughts) -> train ->
eval (before and after) -> optionally serve, each stage a Ray job (Ray Jobs API) or a KubeRay
``RayJob`` running a ``distillery`` command against the platform's services.

Pure: :mod:`spec` (what a job is), :mod:`plan` (stages, their keys and commands), :mod:`kuberay`
(RayJob manifests). I/O: :mod:`store` (durable state in S3), :mod:`backends` (Ray Jobs API /
Kubernetes), :mod:`controller` (the loop), :mod:`servicer` / :mod:`server` (gRPC), :mod:`client`.
"""
