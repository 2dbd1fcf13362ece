"""``GET /api/metrics``: the app's metrics in Prometheus' text format, for a Prometheus beside
the host (function level, like every route of the API: scrape it with the key in the
``x-functions-key`` header). On only with ``SQLFLEET_PROMETHEUS_METRICS=true``; each instance of
the app answers its own counts."""

from __future__ import annotations

import azure.functions as func

from api.blueprint import operation
from api.errors import ErrorBody
from sqlfleet import telemetry
from sqlfleet.errors import NotFound

# What Prometheus' text exposition format 0.0.4 is served as.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@operation(
    "metrics",
    "GET",
    name="metrics_get",
    summary="The app's metrics in Prometheus text format (SQLFLEET_PROMETHEUS_METRICS=true)",
    responses={200: None, 404: ErrorBody},  # 404 while the setting is off
)
def get_metrics(req: func.HttpRequest) -> func.HttpResponse:
    """Answers the text exposition; raises ``NotFound`` when the setting is off."""
    text = telemetry.prometheus_text()
    if text is None:
        raise NotFound(
            "metrics endpoint",
            "/api/metrics",
            f"set {telemetry.PROMETHEUS}=true in the app settings and restart the app",
            field=telemetry.PROMETHEUS,
        )
    return func.HttpResponse(
        text, status_code=200, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
    )
