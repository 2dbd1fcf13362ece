"""Orchestrator functions: job executions, step fan-out and schedules.

Deterministic: no I/O, no clock but ``context.current_utc_datetime``; every effect is an activity.
"""

import azure.durable_functions as df

bp = df.Blueprint()

# The submodules register their functions on ``bp``.
from orchestrators import executions, fanout, notifications, schedules  # noqa: E402,F401
