"""Orchestrator functions: job executions, step fan-out and schedules. Deterministic, no I/O."""

import azure.durable_functions as df

bp = df.Blueprint()
