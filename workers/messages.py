"""What a worker accepts from the broker. Anyone who can write to Redis can send a task
message, and Celery raises whatever a malformed one trips into its consumer, which stops the
whole worker (and the message, never acknowledged, stops the next worker too). So every
message of ours is checked before Celery builds a request from it: a malformed one goes to
the dead-letter list with the reason and is acknowledged, and the worker carries on.

Our tasks name this module's `strategy` as their Celery strategy; messages Celery refuses
itself (unknown task names, pickles) are dead-lettered through the task_rejected signal."""

from __future__ import annotations

from celery.exceptions import InvalidTaskError
from celery.signals import task_rejected
from celery.utils.log import get_logger
from celery.worker.strategy import default as default_strategy
from kombu.exceptions import ContentDisallowed, DecodeError

from .app import settings_of
from .store import JobStore, store_for
from .task_names import ASSEMBLE, RENDER_CHUNK

logger = get_logger(__name__)

STRATEGY = f"{__name__}:strategy"  # what the tasks name as their Celery Strategy


def args_problem(task: str, args, kwargs) -> str | None:
    """Why (args, kwargs) are not what `task` takes, or None."""
    if kwargs:
        return f"{task} takes no keyword arguments, got {sorted(map(str, kwargs))[:5]}"
    if not isinstance(args, list) or not args or not JobStore.is_job_id(args[0]):
        return f"{task} takes a job id (12 hex digits) first, got {str(args)[:80]}"
    if task == RENDER_CHUNK:
        if len(args) != 2 or type(args[1]) is not int or args[1] < 0:
            return f"{task} takes [job, chunk index >= 0], got {str(args)[:80]}"
    elif task == ASSEMBLE:
        if len(args) != 1:
            return f"{task} takes [job], got {str(args)[:80]}"
    return None


def message_problem(message) -> str | None:
    """Why a task message is not one of ours, well formed, or None. Raises what Celery
    refuses on its own (a pickle, a body that does not decode)."""
    headers = message.headers
    if not isinstance(headers.get("id"), str) or not headers["id"]:
        return "the message has no task id"
    payload = message.payload  # ContentDisallowed, DecodeError: Celery's consumer refuses
    if not (isinstance(payload, list) and len(payload) == 3):
        return f"the body must be [args, kwargs, embed] (task protocol 2), got {str(payload)[:80]}"
    args, kwargs, embed = payload
    if not isinstance(kwargs, dict) or not isinstance(embed, (dict, type(None))):
        return "the body's kwargs and embed must be objects"
    return args_problem(headers.get("task"), args, kwargs)


def strategy(task, app, consumer, **options):
    """Celery's default strategy behind our check; nothing a message holds can raise out."""
    handle = default_strategy(task, app, consumer, **options)
    refused_by_celery = (InvalidTaskError, ContentDisallowed, DecodeError,
                         *consumer.connection_errors)

    def checked_handler(message, body, ack, reject, callbacks, **kwargs):
        try:
            problem = message_problem(message)
            if problem is None:
                return handle(message, body, ack, reject, callbacks, **kwargs)
        except refused_by_celery:
            raise  # the consumer rejects these (and tells task_rejected), or reconnects
        except Exception as exc:  # whatever a malformed message trips over
            problem = f"the message cannot be read: {type(exc).__name__}: {exc}"
        dead_letter(app, message, problem)
        message.ack_log_error(logger, consumer.connection_errors)

    return checked_handler


def dead_letter(app, message, reason: str) -> None:
    logger.error("refused a message (kept in the dead-letter list): %s", reason)
    try:
        store = store_for(settings_of(app).redis_url)
        headers = message.headers if isinstance(message.headers, dict) else {}
        store.dead_letter(reason, raw=message.body, source="worker",
                          task=str(headers.get("task")), id=str(headers.get("id")))
    except Exception:  # Redis trouble: the message is refused all the same
        logger.exception("could not keep the refused message")


@task_rejected.connect
def _keep_what_celery_refused(sender=None, message=None, exc=None, **_):
    if message is not None and sender is not None and hasattr(sender, "app"):
        dead_letter(sender.app, message, f"refused by Celery: {exc or 'unknown message'}")
