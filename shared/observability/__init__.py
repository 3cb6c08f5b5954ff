"""Observability shared by the four services (docs/operations.md): RED metrics per route template and each
service's own metrics at ``/metrics`` (``metrics``), OpenTelemetry traces carried by W3C ``traceparent``
(``tracing``), a request id on every request (``context``) that the JSON log lines carry (``shared.logging``),
and readiness at ``/ready`` (``readiness``). ``install`` puts them on an app; ``shared.app`` calls it."""

from shared.observability.install import install

__all__ = ["install"]
