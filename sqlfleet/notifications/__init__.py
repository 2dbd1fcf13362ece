"""Sending notifications: the execution summary, a signed webhook POST, an e-mail over SMTP.

Each send is one try; it answers a ``SendResult`` and never raises for what the other side
did (a refused connection, a 500, an SMTP error): the delivery orchestration decides whether to
try again. Error texts never hold the secret that signed or signed in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlfleet.models.notifications import NotificationRuleIn, SmtpSecurity
from sqlfleet.redaction import redact

SIGNATURE_HEADER = "X-SqlFleet-Signature"
EVENT_HEADER = "X-SqlFleet-Event"
DELIVERY_HEADER = "X-SqlFleet-Delivery"
ATTEMPT_HEADER = "X-SqlFleet-Attempt"
EVENT = "execution.ended"
USER_AGENT = "SQL-Fleet-Notifications/1"
SEND_TIMEOUT_SECONDS = 15
ANSWER_TEXT_LIMIT = 300
DEFAULT_SMTP_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}


@dataclass(frozen=True)
class SendResult:
    delivered: bool
    status_code: int | None = None
    error: str | None = None


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body with the secret>`` (as GitHub signs webhooks)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(summary: dict[str, Any]) -> bytes:
    return json.dumps(summary, separators=(",", ":"), sort_keys=True).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects has not received the notification: say so, do not follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def send_webhook(
    rule: NotificationRuleIn,
    summary: dict[str, Any],
    secret: str,
    *,
    delivery_id: str,
    attempt: int,
    timeout: float = SEND_TIMEOUT_SECONDS,
) -> SendResult:
    """POST the summary as JSON to the rule's URL, signed; delivered on any 2xx answer."""
    body = body_of(summary)
    request = urllib.request.Request(
        rule.url or "",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: EVENT,
            DELIVERY_HEADER: delivery_id,
            ATTEMPT_HEADER: str(attempt),
            SIGNATURE_HEADER: signature(secret, body),
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as answer:
            answer.read(ANSWER_TEXT_LIMIT)
            return SendResult(True, answer.status)
    except urllib.error.HTTPError as error:
        text = error.read(ANSWER_TEXT_LIMIT).decode(errors="replace").strip()
        error.close()
        reason = f"the webhook answered {error.code}" + (f": {text}" if text else "")
        return SendResult(False, error.code, redact(reason, [secret]))
    except (OSError, ValueError) as error:
        reason = f"the webhook could not be reached: {type(error).__name__}: {error}"
        return SendResult(False, None, redact(reason, [secret]))


def email_message(rule: NotificationRuleIn, summary: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"SQL Fleet: job '{summary['job_name']}' execution {summary['lifecycle']}"
    message["From"] = rule.from_address or ""
    message["To"] = ", ".join(rule.to or [])
    lines = [
        f"Job:        {summary['job_name']} (version {summary['job_version']})",
        f"Execution:  {summary['job_execution_id']}",
        f"Lifecycle:  {summary['lifecycle']}",
        f"Started:    {summary.get('start_time') or '-'}",
        f"Ended:      {summary.get('end_time') or '-'}",
    ]
    if summary.get("last_message"):
        lines.append(f"Message:    {summary['last_message']}")
    lines.append("")
    for step in summary.get("steps", []):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(step.get("targets", {}).items()))
        lines.append(
            f"Step {step['step_id']} {step['step_name']}: {step['lifecycle']}"
            + (f" ({counts})" if counts else "")
        )
    lines += ["", f"Details: {summary.get('execution_path', '')}"]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_email(
    rule: NotificationRuleIn,
    summary: dict[str, Any],
    *,
    user: str | None,
    password: str | None,
    timeout: float = SEND_TIMEOUT_SECONDS,
) -> SendResult:
    """Send the summary as an e-mail through the rule's SMTP server (STARTTLS, implicit TLS or
    plain, as the rule says), signing in when a credential was given."""
    security = rule.smtp_security
    port = rule.smtp_port or DEFAULT_SMTP_PORTS[security]
    host = rule.smtp_server or ""
    secrets = [password] if password else []
    try:
        smtp: smtplib.SMTP
        if security == SmtpSecurity.TLS:
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if security == SmtpSecurity.STARTTLS:
                smtp.starttls(context=ssl.create_default_context())
            if user:
                smtp.login(user, password or "")
            refused = smtp.send_message(email_message(rule, summary))
        if refused:
            return SendResult(
                False, None, redact(f"the SMTP server refused {sorted(refused)}", secrets)
            )
        return SendResult(True, 250)
    except smtplib.SMTPResponseException as error:
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        reason = f"the SMTP server {host}:{port} answered {error.smtp_code}: {text}"
        return SendResult(False, error.smtp_code, redact(reason, secrets))
    except (OSError, smtplib.SMTPException, ValueError) as error:
        reason = f"sending through {host}:{port} failed: {type(error).__name__}: {error}"
        return SendResult(False, None, redact(reason, secrets))
