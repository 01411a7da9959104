"""The Celery tasks: thin wrappers. The logic is in workers.execution (which says what
happened) and the pipelines; a task only turns an outcome into Celery's terms.

Shared tasks: they join the app a worker builds (workers.app), which imports this module
through its `include`; messages are sent by name (workers.task_names), never through these
objects."""

from __future__ import annotations

from celery import shared_task

from . import execution
from .app import settings_of
from .messages import STRATEGY  # also keeps what Celery itself refuses (task_rejected)
from .queueing import enqueue_assembly, enqueue_chunks
from .store import store_for
from .task_names import ASSEMBLE, RENDER_CHUNK


@shared_task(name=RENDER_CHUNK, bind=True, max_retries=None, Strategy=STRATEGY)
def render_chunk(self, job: str, index: int) -> str:
    outcome = execution.run_chunk(settings_of(self.app), job, int(index),
                                  worker=self.request.hostname or "local",
                                  retries=self.request.retries)
    return act_on(self, outcome)


@shared_task(name=ASSEMBLE, bind=True, max_retries=None, Strategy=STRATEGY)
def assemble(self, job: str) -> str:
    result = execution.assemble(settings_of(self.app), job)
    if result == "paused":  # the storage root stayed away: the assembly waits in the queue
        raise self.retry(countdown=execution.backoff(self.request.retries))
    return result


def act_on(task, outcome: execution.ChunkOutcome) -> str:
    """Queue the assembly the outcome asks for, put the message back for a retry, or return
    the result (what Celery logs)."""
    if outcome.assembly is not None:
        a = outcome.assembly
        enqueue_assembly(task.app, a.job, queue=a.queue, priority=a.priority)
    if outcome.again is not None:  # a fresh message: a new slice is no retry
        a = outcome.again
        enqueue_chunks(task.app, store_for(settings_of(task.app).redis_url), a.job,
                       [a.index], queue=a.queue, priority=a.priority)
    if outcome.retry_after is not None:
        raise task.retry(exc=outcome.cause, countdown=outcome.retry_after)
    return outcome.result
