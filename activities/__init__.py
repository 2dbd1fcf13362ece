"""Activity functions: all I/O of a job execution (targets, job database, output tables).

The modules here are the Functions; the conversations with target databases they hold are in
``sqlfleet.odbc`` (the project's only pyodbc user).
"""

import azure.durable_functions as df

bp = df.Blueprint()

# The submodules register their functions on ``bp``.
from activities import bookkeeping, housekeeping, schedules, targets  # noqa: E402,F401
