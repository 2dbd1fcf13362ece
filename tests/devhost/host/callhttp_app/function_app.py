"""Durable HTTP app for devhost's end-to-end call_http test (a test fixture, not product code).

Written as a Python app must be on Azure with azure-functions-durable 1.7: the SDK never asks
the extension to poll a 202, so ``http_chain`` polls ``Location`` itself, waiting ``Retry-After``
or else the host's ``defaultHttpAsyncRequestSleepTimeMillseconds`` (host.json
``httpSettings.defaultAsyncRequestSleepTimeMilliseconds``, which the context carries).
"""

from __future__ import annotations

import datetime as dt

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="text")
def shout(text: str) -> str:
    return text.upper()


@app.orchestration_trigger(context_name="context")
def http_chain(context: df.DurableOrchestrationContext):
    base = context.get_input()["base"]
    default_ms = context.function_context.defaultHttpAsyncRequestSleepTimeMillseconds
    headers = {"Content-Type": "application/json", "x-custom": "fleet"}
    response = yield context.call_http("POST", f"{base}/jobs", {"job": 7}, headers=headers)
    accepted = response["statusCode"]
    polls = 0
    while response["statusCode"] == 202:
        retry_after = response["headers"].get("Retry-After")
        wait = dt.timedelta(seconds=int(retry_after)) if retry_after else None
        wait = wait or dt.timedelta(milliseconds=default_ms)
        yield context.create_timer(context.current_utc_datetime + wait)
        response = yield context.call_http("GET", response["headers"]["Location"])
        polls += 1
    shouted = yield context.call_activity("shout", response["content"])
    ok = yield context.call_http("GET", f"{base}/ok")
    return {
        "accepted": accepted,
        "polls": polls,
        "shouted": shouted,
        "ok": [ok["statusCode"], ok["headers"].get("X-Ok"), ok["content"]],
        "default_sleep_ms": default_ms,
    }


@app.orchestration_trigger(context_name="context")
def http_failures(context: df.DurableOrchestrationContext):
    base = context.get_input()["base"]
    closed = context.get_input()["closed"]
    results = {}
    broken = yield context.call_http("GET", f"{base}/broken")
    results["broken"] = [broken["statusCode"], broken["content"]]
    for name, uri, token in (
        ("refused", f"{closed}/nothing", None),
        (
            "managed_identity",
            f"{base}/arm",
            df.ManagedIdentityTokenSource("https://vault.azure.net"),
        ),
    ):
        try:
            yield context.call_http("GET", uri, token_source=token)
            results[name] = "answered"
        except Exception as error:
            results[name] = str(error)
    return results
