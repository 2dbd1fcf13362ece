"""SQL Fleet as an Azure Functions app (Python v2 model).

This module only builds the app and registers the blueprints; the Functions live in ``api/``,
``orchestrators/`` and ``activities/``, the domain in ``sqlfleet/``. The same file runs on Azure
and under the project's local host (``python -m devhost`` / ``sqlfleet serve``).
"""

import azure.durable_functions as df
import azure.functions as func

from activities import bp as activities_bp
from api import bp as api_bp
from orchestrators import bp as orchestrators_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(api_bp)
app.register_functions(orchestrators_bp)
app.register_functions(activities_bp)
