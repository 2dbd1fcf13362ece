"""SQL Fleet's REST API as Azure Functions HTTP triggers (``bp``, registered by function_app.py).

Handlers are thin: parse the request, call the domain (``sqlfleet``), answer. Every handler runs
in ``api.blueprint.operation``'s pipeline, where ``api.errors.error_response`` turns domain errors
into 4xx/5xx answers naming the offending field.
"""

# Importing the handler modules registers their functions on ``bp``.
from api import (  # noqa: F401
    credentials,
    executions,
    jobs,
    metrics,
    monitoring,
    notifications,
    openapi,
    reruns,
    runs,
    steps,
    target_groups,
    ui,
)
from api.blueprint import bp

__all__ = ["bp"]
