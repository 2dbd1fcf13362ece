"""``/api/target-groups`` and ``/api/target-groups/{name}/members``."""

from __future__ import annotations

import uuid

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
from sqlfleet.errors import BadRequest, ValidationFailed
from sqlfleet.models import Member, MemberIn, TargetGroup, TargetGroupIn
from sqlfleet.runtime import job_store, sqlite_folders
from sqlfleet.store.runs import RUN_GROUP_PREFIX, is_hidden_group


@operation(
    "target-groups",
    "GET",
    name="target_groups_list",
    summary="List target groups with their members",
    responses={200: ListOf(TargetGroup)},
)
def list_target_groups(req: func.HttpRequest) -> func.HttpResponse:
    return answer_list(job_store().list_target_groups())


@operation(
    "target-groups/{name}",
    "GET",
    name="target_groups_get",
    summary="Get a target group with its members",
    responses={200: TargetGroup},
)
def get_target_group(req: func.HttpRequest) -> func.HttpResponse:
    return answer(200, job_store().get_target_group(route_value(req, "name")))


@operation(
    "target-groups/{name}",
    "PUT",
    name="target_groups_put",
    summary="Create or replace a target group and all its members",
    body=TargetGroupIn,
    responses={200: TargetGroup, 201: TargetGroup},
)
def put_target_group(req: func.HttpRequest) -> func.HttpResponse:
    name = path_name(req)
    if is_hidden_group(name):
        raise ValidationFailed(
            "name", f"names starting with {RUN_GROUP_PREFIX} are kept for ad hoc runs' databases"
        )
    document = read_document(req, TargetGroupIn)
    same_name(document.name, name)
    sqlite_folders().check_members(document.members)
    group, created = job_store().put_target_group(name, document)
    return created_or_replaced(group, created, url_path("target-groups", name))


@operation(
    "target-groups/{name}",
    "DELETE",
    name="target_groups_delete",
    summary="Delete a target group no step of a job's current version uses",
    responses={204: None},
)
def delete_target_group(req: func.HttpRequest) -> func.HttpResponse:
    job_store().delete_target_group(route_value(req, "name"))
    return answer(204)


@operation(
    "target-groups/{name}/members",
    "GET",
    name="members_list",
    summary="List the members of a target group",
    responses={200: ListOf(Member)},
)
def list_members(req: func.HttpRequest) -> func.HttpResponse:
    return answer_list(job_store().list_members(route_value(req, "name")))


@operation(
    "target-groups/{name}/members",
    "POST",
    name="members_add",
    summary="Add a member to a target group",
    body=MemberIn,
    responses={201: Member},
)
def add_member(req: func.HttpRequest) -> func.HttpResponse:
    name = route_value(req, "name")
    document = read_document(req, MemberIn)
    sqlite_folders().check_members([document], prefix=None)
    member = job_store().add_member(name, document)
    return answer(
        201, member, location=url_path("target-groups", name, "members", member.target_id)
    )


@operation(
    "target-groups/{name}/members/{target_id}",
    "GET",
    name="members_get",
    summary="Get one member of a target group",
    responses={200: Member},
)
def get_member(req: func.HttpRequest) -> func.HttpResponse:
    return answer(200, job_store().get_member(route_value(req, "name"), _target_id(req)))


@operation(
    "target-groups/{name}/members/{target_id}",
    "PUT",
    name="members_put",
    summary="Create or replace one member of a target group",
    body=MemberIn,
    responses={200: Member, 201: Member},
)
def put_member(req: func.HttpRequest) -> func.HttpResponse:
    name, target_id = route_value(req, "name"), _target_id(req)
    document = read_document(req, MemberIn)
    sqlite_folders().check_members([document], prefix=None)
    member, created = job_store().put_member(name, target_id, document)
    return created_or_replaced(
        member, created, url_path("target-groups", name, "members", member.target_id)
    )


@operation(
    "target-groups/{name}/members/{target_id}",
    "DELETE",
    name="members_delete",
    summary="Remove one member from a target group",
    responses={204: None},
)
def delete_member(req: func.HttpRequest) -> func.HttpResponse:
    job_store().delete_member(route_value(req, "name"), _target_id(req))
    return answer(204)


def _target_id(req: func.HttpRequest) -> str:
    raw = route_value(req, "target_id")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise BadRequest("target_id", "expected a member's target_id (a UUID)") from None
