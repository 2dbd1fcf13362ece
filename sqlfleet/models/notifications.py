"""Notification rules of a job and the deliveries they make.

A rule says "when an execution of this job ends in one of these lifecycles, notify this
channel": a webhook (a signed JSON POST) or e-mail over SMTP. Secrets are credential *names*:
a webhook's signing secret is the password of a ``password`` (or ``keyVault``) credential, an
SMTP server's sign-in a credential's user name and password.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import Annotated

from pydantic import Field, model_validator

from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models.common import (
    ApiModel,
    DocumentModel,
    Name,
    Port,
    ServerName,
    field_error,
)

MAX_RULES_PER_JOB = 20
MAX_RECIPIENTS = 50
MAX_URL_LENGTH = 2048
# How often a delivery is tried before it is given up (the first try included), and the waits
# between tries: initial × 2^(n−1), at most the maximum.
DELIVERY_ATTEMPTS = 8
DELIVERY_INITIAL_RETRY_SECONDS = 1.0
DELIVERY_MAXIMUM_RETRY_SECONDS = 300.0
# The lifecycles an execution ends in; rules choose among them.
NOTIFIABLE = (
    Lifecycle.FAILED,
    Lifecycle.TIMED_OUT,
    Lifecycle.CANCELED,
    Lifecycle.SUCCEEDED_WITH_SKIPPED,
    Lifecycle.SUCCEEDED,
)
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+$")

Address = Annotated[str, Field(min_length=3, max_length=320, strict=True, pattern=_ADDRESS.pattern)]


class Channel(str, Enum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class SmtpSecurity(str, Enum):
    """``starttls`` (port 587), ``tls`` (implicit TLS, port 465) or ``none`` (plain)."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


class DeliveryStatus(str, Enum):
    PENDING = "Pending"
    DELIVERED = "Delivered"
    FAILED = "Failed"


class NotificationRuleIn(ApiModel):
    """One rule (``notifications[i]`` of ``PUT /api/jobs/{name}``)."""

    name: Name
    lifecycles: Annotated[list[Lifecycle], Field(min_length=1, max_length=len(NOTIFIABLE))]
    channel: Channel
    # webhook
    url: Annotated[str, Field(max_length=MAX_URL_LENGTH, strict=True)] | None = None
    secret_credential_name: Name | None = None
    # email
    to: Annotated[list[Address], Field(min_length=1, max_length=MAX_RECIPIENTS)] | None = None
    from_address: Address | None = None
    smtp_server: ServerName | None = None
    smtp_port: Port | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_credential_name: Name | None = None

    @model_validator(mode="after")
    def _channel_rules(self) -> NotificationRuleIn:
        for index, lifecycle in enumerate(self.lifecycles):
            if lifecycle not in NOTIFIABLE:
                raise field_error(
                    f"lifecycles[{index}]",
                    "an execution never ends so; choose among Failed, TimedOut, Canceled, "
                    "SucceededWithSkipped, Succeeded",
                )
        webhook = ("url", "secret_credential_name")
        email = ("to", "from_address", "smtp_server", "smtp_port", "smtp_credential_name")
        mine, other = (webhook, email) if self.channel == Channel.WEBHOOK else (email, webhook)
        for name in other:
            if getattr(self, name) is not None:
                raise field_error(name, f"does not apply to channel {self.channel.value}")
        if self.channel == Channel.WEBHOOK:
            if not self.url:
                raise field_error("url", "a webhook rule needs the URL to POST to")
            if not re.match(r"^https?://[^\s/?#]+", self.url):
                raise field_error("url", "must be an http:// or https:// URL")
            if "@" in self.url.split("://", 1)[1].split("/", 1)[0]:
                raise field_error(
                    "url",
                    "must not carry a user or password (it is shown); the requests are signed "
                    "with secret_credential_name's password",
                )
            if self.secret_credential_name is None:
                raise field_error(
                    "secret_credential_name",
                    "a webhook rule needs the credential whose password signs its requests",
                )
        else:
            for name in ("to", "from_address", "smtp_server"):
                if getattr(self, name) is None:
                    raise field_error(name, "an email rule needs it")
        return self


class NotificationRule(NotificationRuleIn):
    """A rule as the API answers it (the same fields)."""


class NotificationRulesIn(ApiModel):
    """``PUT /api/jobs/{name}/notifications``: the job's rules, replacing the ones it has."""

    notifications: Annotated[list[NotificationRuleIn], Field(max_length=MAX_RULES_PER_JOB)]

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationRulesIn:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.notifications):
            if rule.name in seen:
                raise field_error(
                    f"notifications[{index}].name",
                    f"repeats the name of notifications[{seen[rule.name]}]",
                )
            seen[rule.name] = index
        return self


class NotificationRules(DocumentModel):
    job_name: str
    notifications: list[NotificationRule]


class Delivery(DocumentModel):
    """One notification of one execution through one rule, with how its tries went."""

    delivery_id: str
    job_execution_id: str
    job_name: str
    rule_name: str
    channel: Channel
    destination: str
    lifecycle: Lifecycle
    status: DeliveryStatus
    attempts: int
    max_attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_time: dt.datetime | None = None
    created_time: dt.datetime
    delivered_time: dt.datetime | None = None


def retry_delay_seconds(attempt: int) -> float:
    """The wait after failed try ``attempt`` (1-based)."""
    return float(
        min(
            DELIVERY_INITIAL_RETRY_SECONDS * 2 ** (attempt - 1),
            DELIVERY_MAXIMUM_RETRY_SECONDS,
        )
    )


def destination_of(rule: NotificationRuleIn) -> str:
    """Where a rule delivers, as a delivery shows it (the URL without its query, or the
    recipients)."""
    if rule.channel == Channel.WEBHOOK:
        return (rule.url or "").split("?", 1)[0].split("#", 1)[0]
    return ", ".join(rule.to or [])
