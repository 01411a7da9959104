"""Putting a job's work in the broker: its chunks, and its assembly once they are all done.
Submit, retry, the reconciler and the worker that finishes a job's last chunk all queue
through here, so a job's work always goes to its queue at its priority."""

from __future__ import annotations

from typing import Iterable

from .task_names import ASSEMBLE, RENDER_CHUNK


def broker_priority(priority: int) -> int:
    """Our priority (0-9, 9 first) as the broker's: Redis emulates priorities with one list
    per level and serves level 0 first."""
    return 9 - priority


def enqueue_chunks(app, store, job: str, indices: Iterable[int], *, queue: str,
                   priority: int) -> None:
    """One render message per chunk; each chunk records its message id (cancel revokes it)."""
    for index in indices:
        message = app.send_task(RENDER_CHUNK, args=[job, index], queue=queue,
                                priority=broker_priority(priority))
        store.set_task_id(job, index, message.id)


def enqueue_assembly(app, job: str, *, queue: str, priority: int) -> None:
    app.send_task(ASSEMBLE, args=[job], queue=queue, priority=broker_priority(priority))
