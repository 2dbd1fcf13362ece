"""Activity functions: all I/O of a job execution (targets, job database, output tables)."""

import azure.durable_functions as df

bp = df.Blueprint()
