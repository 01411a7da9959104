"""Re-queues work whose worker vanished: a chunk left `running`, or an assembly claimed, with
an expired lease has no live owner (a whole worker killed, a node lost). Redis would
redeliver its message only after the visibility timeout; the reconciler does it as soon as
the lease runs out, and the claim fencing makes any late duplicate harmless."""

from __future__ import annotations

import threading
import time

from .broker import waiting_task_ids
from .lifecycle import DAY, purge
from .queueing import enqueue_assembly, enqueue_chunks
from .settings import FarmSettings
from .store import JobStore


class Reconciler:
    def __init__(self, app, settings: FarmSettings, *, worker: str = ""):
        self.app = app  # only sends messages
        self.settings = settings
        self.worker = worker  # announced in Redis each round, for `latentfx doctor`
        self.store = JobStore.from_url(self.settings.redis_url)
        self._stop = threading.Event()
        self._expired_at = 0.0  # when finished jobs were last expired (at most hourly)

    def run_forever(self) -> None:
        interval = max(1.0, self.settings.lease_seconds / 2)
        self._round(interval, sweep=False)
        while not self._stop.wait(interval):
            self._round(interval)

    def _round(self, interval: float, *, sweep: bool = True) -> None:
        try:
            if self.worker:
                self.store.announce_worker(self.worker, seconds=3 * interval)
            if sweep:
                self.sweep()
        except Exception:  # a broker hiccup must not kill the thread; try next round
            pass

    def stop(self) -> None:
        self._stop.set()

    def sweep(self) -> list[tuple[str, int | str]]:
        """One pass, by one worker at a time; returns what it re-queued: (job, chunk index)
        or (job, "assembly")."""
        with self.store.lock("reconciler", seconds=self.settings.lease_seconds) as held:
            if not held:
                return []
            requeued = self._sweep()
            self._expire_finished()
            return requeued

    def _expire_finished(self) -> None:
        """Remove finished jobs older than LATENTFX_RECORD_DAYS (workers.lifecycle); looked
        for at most hourly, or as often as the setting itself asks when it is shorter."""
        days = self.settings.record_days
        if time.time() - self._expired_at < min(3600.0, days * DAY):
            return
        self._expired_at = time.time()
        purge(self.store, self.settings.storage_root(), older_than_days=days)

    def _sweep(self) -> list[tuple[str, int | str]]:
        requeued = []
        now = time.time()
        for job in self.store.active_jobs():
            try:
                record = self.store.job(job)
            except Exception:  # a job record deleted or damaged under us: skip it this round
                continue
            stale = [c["index"] for c in record["chunk_list"]
                     if c["state"] == "running" and 0 < c["lease"] < now]
            for index in stale:
                if not self.store.requeue_expired(job, index):
                    continue  # it finished, or its owner renewed the lease, since it was read
                enqueue_chunks(self.app, self.store, job, [index], queue=record["queue"],
                               priority=record["priority"])
                requeued.append((job, index))
            for index in self._lost_messages(job, record, now):
                enqueue_chunks(self.app, self.store, job, [index], queue=record["queue"],
                               priority=record["priority"])
                requeued.append((job, index))
            if self._assembly_expired(job, record, now):
                enqueue_assembly(self.app, job, queue=record["queue"],
                                 priority=record["priority"])
                requeued.append((job, "assembly"))
        return requeued

    def _lost_messages(self, job: str, record: dict, now: float) -> list[int]:
        """Chunks queued for longer than a lease whose message is nowhere in the broker
        (publishing failed, or the message was acknowledged without a claim): the right to
        send each again is taken in Redis, so exactly one sweep re-sends it."""
        waiting = [c for c in record["chunk_list"] if c["state"] == "queued" and
                   now - float(c.get("queued_at") or record["created"])
                   > self.settings.lease_seconds]
        if not waiting:
            return []
        present = waiting_task_ids(self.store.client, record["queue"])
        return [c["index"] for c in waiting if c.get("task_id", "") not in present
                and self.store.claim_resend(job, c["index"], c.get("task_id", ""))]

    def _assembly_expired(self, job: str, record: dict, now: float) -> bool:
        """Whether the job's assembly was claimed and its lease ran out; if so the claim is
        released here (only if it is still the one seen), so exactly one sweep re-queues."""
        seen = record.get("assembly_lease") or "0"
        return 0 < float(seen) < now and self.store.release_assembly(job, seen)
