"""``/api/credentials``: list, get, create-or-replace, delete. Secrets are never answered."""

from __future__ import annotations

import azure.functions as func

from api.blueprint import ListOf, operation
from api.documents import (
    answer,
    answer_list,
    created_or_replaced,
    path_name,
    read_document,
    route_value,
    same_name,
    url_path,
)
from sqlfleet.credentials import seal
from sqlfleet.models import Credential, CredentialIn
from sqlfleet.runtime import job_store, settings


@operation(
    "credentials",
    "GET",
    name="credentials_list",
    summary="List credentials",
    responses={200: ListOf(Credential)},
)
def list_credentials(req: func.HttpRequest) -> func.HttpResponse:
    return answer_list(job_store().list_credentials())


@operation(
    "credentials/{name}",
    "GET",
    name="credentials_get",
    summary="Get a credential (never its secret)",
    responses={200: Credential},
)
def get_credential(req: func.HttpRequest) -> func.HttpResponse:
    return answer(200, job_store().get_credential(route_value(req, "name")))


@operation(
    "credentials/{name}",
    "PUT",
    name="credentials_put",
    summary="Create or replace a credential; a password is encrypted with SQLFLEET_CREDENTIAL_KEY",
    body=CredentialIn,
    responses={200: Credential, 201: Credential},
)
def put_credential(req: func.HttpRequest) -> func.HttpResponse:
    name = path_name(req)
    document = read_document(req, CredentialIn)
    same_name(document.name, name)
    credential, created = job_store().put_credential(seal(name, document, settings()))
    return created_or_replaced(credential, created, url_path("credentials", name))


@operation(
    "credentials/{name}",
    "DELETE",
    name="credentials_delete",
    summary="Delete a credential no current job step or target group member uses",
    responses={204: None},
)
def delete_credential(req: func.HttpRequest) -> func.HttpResponse:
    job_store().delete_credential(route_value(req, "name"))
    return answer(204)
