"""Moved to :mod:`sqlfleet.durable.names` (the contract every Function package shares); kept
so that imports of the old place keep working."""

from sqlfleet.durable.names import *  # noqa: F403
