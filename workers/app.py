"""The Celery app: JSON only, late acks, one chunk at a time per process (DESIGN §4).

One app per set of farm settings, built on first use by get_app() and kept: the worker, the
CLI's farm verbs and submit all share it. Start a worker with `latentfx worker --queues
gpu,cpu` (or `celery -A workers.app worker`, which finds it as `workers.app.app`).
"""

from __future__ import annotations

import functools
import threading

from celery import Celery
from celery.signals import task_postrun, worker_process_init, worker_ready, worker_shutdown
from kombu import Exchange, Queue

from .gpus import take_gpu
from .reconciler import Reconciler
from .settings import FarmSettings, from_environment

QUEUES = ("gpu", "cpu")


def celery_config(settings: FarmSettings) -> dict:
    vt = settings.visibility_timeout
    return dict(
        # Messages are JSON; a pickled message is refused, never loaded (research §1.12).
        # kombu's Redis transport, with queue items that are not messages dead-lettered.
        broker_transport="workers.broker:Transport",
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_accept_content=["json"], event_serializer="json",
        # At-least-once: ack after the chunk ran, requeue when the pool process dies. Our
        # job store caps the redeliveries and fences duplicates (research §1.1, §1.4).
        task_acks_late=True, task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.soft_limit, task_time_limit=settings.hard_limit,
        # Set in all three places, or Redis keeps its 1 h default (celery#7651, #9339).
        broker_transport_options={"visibility_timeout": vt, "queue_order_strategy": "priority",
                                  "priority_steps": list(range(10))},
        result_backend_transport_options={"visibility_timeout": vt},
        visibility_timeout=vt,
        # Our job store is the record; Celery's results are not kept (and never read).
        task_ignore_result=True,
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in QUEUES],
        task_default_queue="gpu",
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_max_tasks_per_child=50,  # recycles the CUDA context and its memory
        broker_connection_retry_on_startup=True,
        worker_send_task_events=True, task_send_sent_event=True,
        # Celery's remote control (shutdown, pool restarts, rate limits, revokes) obeys anyone
        # who can publish to Redis, with no check of who asks; the farm needs none of it
        # (cancel is a flag in the job record, lost work goes back through the reconciler,
        # `doctor` finds workers by their heartbeat keys), so workers do not listen at all.
        # Flower still shows tasks and workers from their events.
        worker_enable_remote_control=False,
        worker_hijack_root_logger=False,
    )


def get_app(settings: FarmSettings | None = None) -> Celery:
    """The farm's Celery app for `settings` (default: from the environment)."""
    return _app_for(settings or from_environment())


@functools.lru_cache(maxsize=None)
def _app_for(settings: FarmSettings) -> Celery:
    # The tasks (workers.tasks) are shared tasks: a worker imports them through `include`
    # and they join this app; a process that only sends messages never imports them.
    app = Celery("latentfx", broker=settings.redis_url, include=["workers.tasks"])
    app.conf.update(celery_config(settings))
    app.conf.latentfx_settings = settings
    return app


def settings_of(app: Celery) -> FarmSettings:
    return app.conf.latentfx_settings


def __getattr__(name: str):
    # `celery -A workers.app` looks for `workers.app.app`; it is built then, not at import,
    # so importing this module reads no settings and connects to nothing.
    if name == "app":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@worker_ready.connect
def _start_reconciler(sender=None, **_):
    """The worker's parent process re-queues chunks whose worker died (their lease ran out).
    Every worker runs one; a Redis lock lets one of them act at a time."""
    reconciler = Reconciler(sender.app, settings_of(sender.app), worker=sender.hostname)
    thread = threading.Thread(target=reconciler.run_forever, name="latentfx-reconciler",
                              daemon=True)
    thread.start()
    worker_shutdown.connect(lambda **_: reconciler.stop(), weak=False)


@worker_process_init.connect
def _take_own_gpu(**_):
    """Each pool process its own GPU (workers.gpus), before anything touches CUDA in it."""
    from billiard.process import current_process

    take_gpu(current_process().index)


@task_postrun.connect
def _hand_memory_back(**_):
    """Within a chunk the allocator keeps freed buffers for reuse (latentfx/runtime/memory.py); a
    worker waiting for its next chunk should not sit on them."""
    from latentfx.runtime.memory import release_free_memory

    release_free_memory()
