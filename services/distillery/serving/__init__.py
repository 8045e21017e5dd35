"""Student serving on Ray Serve: answers, not just text.

Pure logic -- :mod:`solving` (the solve request/response and combining thoughts),
:mod:`openai_api` (the OpenAI-compatible request/response shapes), :mod:`config`,
:mod:`limits` (request and per-team limits) -- is kept apart from the Ray Serve deployments
(:mod:`replica` -- vLLM's async engine, or HF behind :mod:`batching` -- and :mod:`ingress`),
the guards inside Serve's shared proxies (:mod:`proxy`), the deploy/list/delete calls
(:mod:`deploy`) and the client SDK (:mod:`client`).
"""
