"""Activity functions: all I/O of a job execution (targets, job database, output tables).

The modules here are the Functions; the conversations with target databases they hold are in
``sqlfleet.odbc`` (the project's only pyodbc user).

A trigger or binding parameter that carries an object is annotated as bare ``dict``: the Python
worker refuses PEP 585 generics such as ``dict[str, Any]`` on bindings ("invalid non-type
annotation"), and refusing one function fails the indexing of the whole app on Azure.
"""

import azure.durable_functions as df

bp = df.Blueprint()

# The submodules register their functions on ``bp``.
from activities import (  # noqa: E402,F401
    bookkeeping,
    housekeeping,
    notifications,
    reconciliation,
    schedules,
    targets,
)

# With a telemetry setting on, set the exporters up while the app loads rather than in the
# first activity (with none, this only reads three settings).
from sqlfleet import telemetry  # noqa: E402

telemetry.active()
