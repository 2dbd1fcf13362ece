"""Status, history and check-status bodies (reference §5.2, §5.3) and the client binding (§4.1)."""

from __future__ import annotations

import datetime as dt
import json

import azure.durable_functions as df
import azure.functions as func

from devhost.client_binding import client_binding_json
from devhost.http.payloads import (
    check_status_payload,
    dotnet_time,
    entity_payload,
    history_events,
    management_urls,
    parse_json_or_raw,
    status_payload,
)
from devhost.taskhub import EntityStatus, InstanceStatus, RuntimeStatus

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, 0, 0, 5, 123456, tzinfo=UTC)

HISTORY = [
    {"EventType": 12, "EventId": -1, "IsPlayed": True, "Timestamp": "2024-01-01T00:00:00.0000000Z"},
    {
        "EventType": 0,
        "EventId": -1,
        "IsPlayed": True,
        "Timestamp": "2024-01-01T00:00:00.0000000Z",
        "OrchestrationInstance": {"InstanceId": "abc", "ExecutionId": "e1"},
        "ParentInstance": None,
        "Name": "hello",
        "Version": "",
        "Input": '"in"',
        "Tags": None,
        "Generation": 0,
    },
    {
        "EventType": 4,
        "EventId": 0,
        "IsPlayed": True,
        "Timestamp": "2024-01-01T00:00:00.1000000Z",
        "Name": "say",
        "Version": "",
        "Input": '"Tokyo"',
        "Tags": None,
    },
    {"EventType": 13, "EventId": -1, "IsPlayed": True, "Timestamp": "2024-01-01T00:00:00.2Z"},
    {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": "2024-01-01T00:00:01Z"},
    {
        "EventType": 5,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2024-01-01T00:00:00.9Z",
        "TaskScheduledId": 0,
        "Result": '"Hello Tokyo!"',
    },
    {
        "EventType": 4,
        "EventId": 1,
        "IsPlayed": False,
        "Timestamp": "2024-01-01T00:00:01.1Z",
        "Name": "say",
        "Version": "",
        "Input": '"Lima"',
        "Tags": None,
    },
    {
        "EventType": 10,
        "EventId": 2,
        "IsPlayed": False,
        "Timestamp": "2024-01-01T00:00:01.1Z",
        "FireAt": "2024-01-01T00:01:00Z",
    },
    {
        "EventType": 11,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2024-01-01T00:01:00Z",
        "TimerId": 2,
        "FireAt": "2024-01-01T00:01:00Z",
    },
    {
        "EventType": 15,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2024-01-01T00:01:01Z",
        "Name": "Go",
        "Input": '{"ok": true}',
    },
    {
        "EventType": 1,
        "EventId": -1,
        "IsPlayed": False,
        "Timestamp": "2024-01-01T00:01:02Z",
        "OrchestrationStatus": 1,
        "Result": "[1, 2]",
        "FailureDetails": None,
    },
]


def test_history_transformation_folds_schedules_and_names_event_types():
    events = history_events(HISTORY, show_input=True, show_history_output=True)
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "TaskScheduled",
        "TimerCreated",
        "TimerFired",
        "EventRaised",
        "ExecutionCompleted",
    ]
    started, completed, pending, _, fired, raised, done = events
    assert started == {
        "EventType": "ExecutionStarted",
        "Timestamp": "2024-01-01T00:00:00.0000000Z",
        "FunctionName": "hello",
        "Input": '"in"',
        "Generation": 0,
    }
    assert completed == {
        "EventType": "TaskCompleted",
        "Timestamp": "2024-01-01T00:00:00.9Z",
        "Result": "Hello Tokyo!",
        "ScheduledTime": "2024-01-01T00:00:00.1000000Z",
        "FunctionName": "say",
        "Input": '"Tokyo"',
    }
    assert pending == {
        "EventType": "TaskScheduled",
        "Timestamp": "2024-01-01T00:00:01.1Z",
        "Name": "say",
        "Input": '"Lima"',
        "Tags": None,
    }
    assert "TimerId" not in fired and fired["FireAt"] == "2024-01-01T00:01:00Z"
    assert raised["Input"] == '{"ok": true}'
    assert done["OrchestrationStatus"] == "Completed" and done["Result"] == [1, 2]
    assert all("EventId" not in e and "IsPlayed" not in e for e in events)


def test_history_without_output_or_input_drops_results_and_inputs():
    events = history_events(HISTORY, show_input=False, show_history_output=False)
    assert all("Input" not in e for e in events)
    completed = next(e for e in events if e["EventType"] == "TaskCompleted")
    assert "Result" not in completed and completed["FunctionName"] == "say"
    assert "Result" not in next(e for e in events if e["EventType"] == "ExecutionCompleted")
    assert HISTORY[5]["EventType"] == 5  # the caller's history is not modified


def test_failed_tasks_keep_reason_and_details():
    failed = [
        HISTORY[2],
        {
            "EventType": 6,
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": "t",
            "TaskScheduledId": 0,
            "Reason": "Activity function 'say' failed: x",
            "Details": '{"Message": "x"}',
        },
    ]
    (event,) = history_events(failed, show_input=False, show_history_output=False)
    assert event == {
        "EventType": "TaskFailed",
        "Timestamp": "t",
        "Reason": failed[1]["Reason"],
        "Details": failed[1]["Details"],
        "ScheduledTime": HISTORY[2]["Timestamp"],
        "FunctionName": "say",
    }


def test_status_payload_has_every_field_and_whole_second_times():
    status = InstanceStatus(
        instance_id="abc",
        name="hello",
        runtime_status=RuntimeStatus.TERMINATED,
        created_time=T0,
        last_updated_time=T0 + dt.timedelta(seconds=2),
        input='"{\\"a\\": 1}"',
        output="stopped by user",
        custom_status='{"stage": 2}',
    )
    assert status_payload(status) == {
        "name": "hello",
        "instanceId": "abc",
        "runtimeStatus": "Terminated",
        "input": '{"a": 1}',
        "customStatus": {"stage": 2},
        "output": "stopped by user",
        "createdTime": "2024-01-01T00:00:05Z",
        "lastUpdatedTime": "2024-01-01T00:00:07Z",
    }
    assert status_payload(status, show_input=False)["input"] is None


def test_parse_json_or_raw_is_parse_to_jtoken():
    assert parse_json_or_raw(None) is None
    assert parse_json_or_raw("  ") == ""
    assert parse_json_or_raw(" [1] ") == [1]
    assert parse_json_or_raw("not json") == "not json"


def test_management_urls_encode_like_webutility_and_carry_the_system_key():
    urls = management_urls("http://h:1", "a b/c", "Hub", system_key="k+y")
    assert urls["statusQueryGetUri"] == (
        "http://h:1/runtime/webhooks/durabletask/instances/a+b%2Fc"
        "?taskHub=Hub&connection=Storage&code=k%2By"
    )
    assert urls["terminatePostUri"].startswith(
        "http://h:1/runtime/webhooks/durabletask/instances/a+b%2Fc/terminate?reason={text}&"
    )
    assert set(check_status_payload(urls)) == {
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    }


def test_entity_payload_and_dotnet_times():
    entity = EntityStatus("counter", "k1", "15", T0)
    assert entity_payload(entity, fetch_state=True) == {
        "entityId": {"name": "counter", "key": "k1"},
        "lastOperationTime": "2024-01-01T00:00:05.123456Z",
        "state": 15,
    }
    assert entity_payload(entity, fetch_state=False)["state"] is None
    assert dotnet_time(dt.datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00Z"


def test_the_sdk_accepts_the_client_binding_and_builds_check_status_urls_from_it():
    binding = json.loads(client_binding_json("http://127.0.0.1:7071", "SampleHub"))
    # A keyless host: the SDK calls the Durable HTTP API itself.
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:7071/runtime/webhooks/durabletask/"
    assert binding["requiredQueryStringParameters"] == ""
    assert binding["managementUrls"]["id"] == "INSTANCEID"
    client = df.DurableOrchestrationClient(json.dumps(binding))
    request = func.HttpRequest("POST", "http://example.test:8080/api/start", body=b"")
    response = client.create_check_status_response(request, "inst-1")
    payload = json.loads(response.get_body())
    assert response.status_code == 202
    assert (
        response.headers["Location"]
        == payload["statusQueryGetUri"]
        == (
            "http://example.test:8080/runtime/webhooks/durabletask/instances/inst-1"
            "?taskHub=SampleHub&connection=Storage"
        )
    )
    assert payload["rewindPostUri"].endswith(
        "/instances/inst-1/rewind?reason={text}&taskHub=SampleHub&connection=Storage"
    )


def test_a_system_key_appears_as_code_in_every_url():
    binding = json.loads(client_binding_json("http://h:1", "Hub", system_key="s3cr3t"))
    assert binding["requiredQueryStringParameters"] == "code=s3cr3t"
    assert all(
        url.endswith("&code=s3cr3t")
        for key, url in binding["managementUrls"].items()
        if key != "id"
    )
    assert binding["creationUrls"]["createNewInstancePostUri"].endswith("?code=s3cr3t")
    # The SDK sends no key of its own: the system key is the first segment of its base path.
    assert binding["rpcBaseUrl"] == "http://h:1/runtime/webhooks/durabletask-rpc/s3cr3t/"
    odd = json.loads(client_binding_json("http://h:1", "Hub", system_key="a/b+c"))
    assert odd["rpcBaseUrl"] == "http://h:1/runtime/webhooks/durabletask-rpc/a%2Fb%2Bc/"
