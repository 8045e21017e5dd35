"""The committed gRPC code is exactly what the pinned grpcio-tools makes from protos/."""

import subprocess
import sys


def test_generated_code_matches_the_protos():
    result = subprocess.run([sys.executable, "-m", "distillery.core.protogen", "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "current" in result.stdout
