"""Each gRPC service's default port: the one place the CLI, the stack and the Helm chart's
tests read them from (the chart's values must agree; a test checks the rendered manifests)."""

from __future__ import annotations

PORTS: dict[str, int] = {
    "verifier": 50051,
    "registry": 50052,
    "teacher": 50053,
    "trainer": 50055,
    "jobs": 50056,
}

# Every service's Prometheus /metrics (`serve --metrics-port`) in its pod on a cluster; the local
# stack picks free ports instead.
METRICS_PORT = 9464

# Every service's plaintext grpc.health.v1-only port (`serve --health-port`) in its pod on a cluster:
# kubelet's gRPC probes cannot speak TLS, so they cannot use the service's own port.
HEALTH_PORT = 9465
