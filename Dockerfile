# SQL Fleet's Functions app in a container, with the MSSQL durable backend
# (deploy/host/mssql/host.json), for any Kubernetes cluster with KEDA: deploy/kubernetes/ and the
# README ("Kubernetes with KEDA") say how to run it.
#
#   docker build -t <registry>/sqlfleet:<tag> .                      # Python 3.13
#   docker build --build-arg PYTHON_VERSION=3.12 -t ... .            # or 3.11, 3.12
ARG PYTHON_VERSION=3.13

# Stage the app (the same script azd uses) so that only what the host runs goes into the image.
FROM mcr.microsoft.com/azure-functions/python:4-python${PYTHON_VERSION} AS staged
COPY . /source
RUN python /source/deploy/stage_app.py --profile mssql --output /app

FROM mcr.microsoft.com/azure-functions/python:4-python${PYTHON_VERSION}
ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    FUNCTIONS_WORKER_RUNTIME=python \
    PYTHON_THREADPOOL_THREAD_COUNT=48 \
    SQLFLEET_LOCAL_SCRIPT_PROCESSES=0
# Targets on SQL Server and Azure SQL need ODBC Driver 18 (the image's default driver name);
# fail the build here rather than at the first job.
RUN odbcinst -q -d -n "ODBC Driver 18 for SQL Server" > /dev/null \
    || (echo "ODBC Driver 18 for SQL Server is missing from the base image" >&2 && exit 1)
COPY --from=staged /app/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=staged /app /home/site/wwwroot
