"""Names of the durable functions, and instance ids derived from domain ids.

Instance ids are deterministic so that the API can reach every orchestration of an execution
(cancel raises an event on each) and so that a schedule has exactly one orchestration per job.
"""

JOB_EXECUTION = "job_execution"
STEP_BATCH = "step_batch"
STEP_LANE = "step_lane"
# The retries of one target of a step without a parallelism bound (its "retry lane").
TARGET_RETRY = "target_retry"
JOB_SCHEDULE = "job_schedule"
DELIVER_NOTIFICATION_ORCHESTRATION = "notification_delivery"

BEGIN_EXECUTION = "begin_execution"
EXPAND_STEP = "expand_step"
RUN_TARGET = "run_target"
RUN_TARGETS = "run_targets"
FINISH_STEP = "finish_step"
FINISH_EXECUTION = "finish_execution"
END_EXECUTION = "end_execution"
CANCEL_TARGETS = "cancel_targets"
CANCEL_REQUESTED = "cancel_requested"
SETTLE_TARGET = "settle_target"
LOAD_SCHEDULE = "load_schedule"
START_SCHEDULED_EXECUTION = "start_scheduled_execution"
QUEUE_NOTIFICATIONS = "queue_notifications"
DELIVER_NOTIFICATION = "deliver_notification"

CANCEL_EVENT = "cancel"
SCHEDULE_CHANGED_EVENT = "schedule_changed"
# Raised on the job execution when a step's last retrying target ended (see orchestrators.fanout).
STEP_SETTLED_EVENT = "step_settled"


def execution_instance_id(job_execution_id: str) -> str:
    return job_execution_id


def batch_instance_id(job_execution_id: str, step_id: int, batch: int) -> str:
    return f"{job_execution_id}:s{step_id}:b{batch}"


def lane_instance_id(job_execution_id: str, step_id: int, lane: int) -> str:
    return f"{job_execution_id}:s{step_id}:l{lane}"


def retry_instance_id(job_execution_id: str, step_id: int, ordinal: int) -> str:
    """The retry lane of one target of a batch (an orchestration of its own, not a child)."""
    return f"{job_execution_id}:s{step_id}:t{ordinal}"


def schedule_instance_id(job_id: str) -> str:
    return f"sqlfleet-schedule-{job_id}"


def notification_instance_id(job_execution_id: str, delivery_id: str) -> str:
    """The orchestration that delivers one notification of an execution (retries included)."""
    return f"{job_execution_id}:notify:{delivery_id}"
