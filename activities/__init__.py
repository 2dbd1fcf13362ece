"""Activity functions: all I/O of a job execution (targets, job database, output tables).

``activities.odbc`` is the project's only pyodbc user; the other modules are the Functions.
"""

import azure.durable_functions as df

bp = df.Blueprint()

# The submodules register their functions on ``bp``.
from activities import bookkeeping, housekeeping, schedules, targets  # noqa: E402,F401
