"""Ad hoc runs (``POST /api/runs``): a command run now on a target group or on databases given
by address, with every setting of a step, without a job definition to maintain."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator

from sqlfleet.models.common import ApiModel, JobName, Name, field_error
from sqlfleet.models.jobs import (
    DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS,
    DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS,
    DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER,
    DEFAULT_STEP_TIMEOUT_SECONDS,
    Command,
    Multiplier,
    OnFailure,
    OutputDestination,
    Parallelism,
    RetryAttempts,
    Seconds,
    StepIn,
)
from sqlfleet.models.parameters import (
    MAX_PARAMETERS,
    ParameterDeclaration,
    ParameterName,
)
from sqlfleet.models.targets import MemberIn
from sqlfleet.parameterkinds import ParameterType

MAX_RUN_MEMBERS = 1000
# A run retries less than a job step by default: someone is usually watching it.
DEFAULT_RUN_RETRY_ATTEMPTS = 0


class RunIn(ApiModel):
    """A run: ``command`` on ``target_group_name`` or on ``members`` (databases, servers or
    pools, as in a target group), with ``credential_name`` and the step settings (retries,
    timeout, parallelism, output). ``parameters`` are values (``$(name)`` in the command); their
    types come from ``parameter_types`` (default: a JSON number is ``int`` or ``decimal``, a
    boolean ``bool``, a string ``string``); ``secret_parameters`` are never shown."""

    name: JobName | None = None
    command: Command
    credential_name: Name | None = None
    target_group_name: Name | None = None
    members: Annotated[list[MemberIn], Field(min_length=1, max_length=MAX_RUN_MEMBERS)] | None = (
        None
    )
    retry_attempts: RetryAttempts = DEFAULT_RUN_RETRY_ATTEMPTS
    initial_retry_interval_seconds: Seconds = DEFAULT_INITIAL_RETRY_INTERVAL_SECONDS
    maximum_retry_interval_seconds: Seconds = DEFAULT_MAXIMUM_RETRY_INTERVAL_SECONDS
    retry_interval_backoff_multiplier: Multiplier = DEFAULT_RETRY_INTERVAL_BACKOFF_MULTIPLIER
    step_timeout_seconds: Seconds = DEFAULT_STEP_TIMEOUT_SECONDS
    max_parallelism: Parallelism | None = None
    output: OutputDestination | None = None
    parameters: Annotated[dict[ParameterName, Any], Field(max_length=MAX_PARAMETERS)] = {}
    parameter_types: Annotated[
        dict[ParameterName, ParameterType], Field(max_length=MAX_PARAMETERS)
    ] = {}
    secret_parameters: Annotated[list[ParameterName], Field(max_length=MAX_PARAMETERS)] = []

    @model_validator(mode="after")
    def _run_rules(self) -> RunIn:
        if (self.target_group_name is None) == (self.members is None):
            raise field_error(
                "target_group_name", "give either target_group_name or members (not both)"
            )
        if not self.command.strip():
            raise field_error("command", "command is empty; give the SQL to run")
        if self.maximum_retry_interval_seconds < self.initial_retry_interval_seconds:
            raise field_error(
                "maximum_retry_interval_seconds", "must be at least initial_retry_interval_seconds"
            )
        for names, field in ((self.parameter_types, "parameter_types"),
                             (self.secret_parameters, "secret_parameters")):  # fmt: skip
            for name in names:
                if name not in self.parameters:
                    raise field_error(field, "names a parameter without a value in parameters")
        try:
            self.declarations()
        except ValidationError:
            raise field_error(
                "parameters",
                "a name is a built-in script variable's (or ends in _literal or "
                "_identifier); choose another",
            ) from None
        return self

    def declarations(self) -> list[ParameterDeclaration]:
        """The parameters of the run, declared from their values (``ValueError`` naming none)."""
        declared = []
        for name, value in self.parameters.items():
            kind = self.parameter_types.get(name) or _type_of(value)
            declared.append(
                ParameterDeclaration(name=name, type=kind, secret=name in self.secret_parameters)
            )
        return declared

    def step(self, target_group_name: str) -> StepIn:
        """The run's one step, on ``target_group_name``."""
        return StepIn(
            command=self.command,
            credential_name=self.credential_name,
            target_group_name=target_group_name,
            retry_attempts=self.retry_attempts,
            initial_retry_interval_seconds=self.initial_retry_interval_seconds,
            maximum_retry_interval_seconds=self.maximum_retry_interval_seconds,
            retry_interval_backoff_multiplier=self.retry_interval_backoff_multiplier,
            step_timeout_seconds=self.step_timeout_seconds,
            max_parallelism=self.max_parallelism,
            on_failure=OnFailure.FAIL,
            output=self.output,
        )


def _type_of(value: Any) -> ParameterType:
    if isinstance(value, bool):
        return ParameterType.BOOL
    if isinstance(value, int):
        return ParameterType.INT
    if isinstance(value, float):
        return ParameterType.DECIMAL
    return ParameterType.STRING
