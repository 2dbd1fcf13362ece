"""SQL Fleet as an Azure Functions app (Python v2 model).

This module only claims the job database, builds the app and registers the blueprints; the
Functions live in ``api/``, ``orchestrators/`` and ``activities/``, the domain in ``sqlfleet/``.
The same file runs on Azure and under the project's local host (``python -m devhost`` /
``sqlfleet serve``).
"""

import azure.durable_functions as df
import azure.functions as func

from activities import bp as activities_bp
from api import bp as api_bp
from orchestrators import bp as orchestrators_bp
from sqlfleet.runtime import claim_job_database

# Loading the app is its start: a second host on the same SQLite job database stops here, with
# a message naming the first (sqlfleet.store.hostlock says why).
claim_job_database()

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(api_bp)
app.register_functions(orchestrators_bp)
app.register_functions(activities_bp)
