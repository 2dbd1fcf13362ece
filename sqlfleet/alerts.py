"""The log line SQL Fleet's Azure Monitor alert counts: one per step that ended with target
executions ``Failed`` or ``TimedOut``.

``infra/resources.bicep`` alerts on Application Insights ``traces`` whose message starts with
``FAILED_TARGETS_PREFIX`` and adds up the two counts the line carries. Keep the wording in step
with that query (``tests/deployment`` checks both against each other and against a real run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlfleet.lifecycle import Lifecycle
from sqlfleet.models import ExecutionRow

FAILED_TARGETS_PREFIX = "SQL Fleet: failed target executions"
_ENDS_IN_FAILURE = (Lifecycle.FAILED, Lifecycle.TIMED_OUT)


def failed_targets_message(step: ExecutionRow, failed: int, timed_out: int) -> str:
    """``SQL Fleet: failed target executions: 2 Failed, 1 TimedOut in step 1 (create) of job
    'Job1' execution <id>``."""
    return (
        f"{FAILED_TARGETS_PREFIX}: {failed} Failed, {timed_out} TimedOut in step {step.step_id} "
        f"({step.step_name}) of job '{step.job_name}' execution {step.job_execution_id}"
    )


def report_failed_targets(
    step: ExecutionRow, targets: Mapping[str, int], logger: logging.Logger
) -> bool:
    """Log one warning for ``step`` (a finished step row whose ``targets`` are counted by
    lifecycle) if any of them ended Failed or TimedOut; answer whether it did."""
    if step.step_id is None or step.lifecycle not in _ENDS_IN_FAILURE:
        return False
    failed, timed_out = (targets.get(s.value, 0) for s in _ENDS_IN_FAILURE)
    if not failed and not timed_out:
        return False
    logger.warning("%s", failed_targets_message(step, failed, timed_out))
    return True
