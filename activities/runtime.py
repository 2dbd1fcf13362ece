"""The process-wide job store and settings the activities use (shared with the API handlers)."""

from api.context import job_store, settings

__all__ = ["job_store", "settings"]
