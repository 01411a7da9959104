"""The Redis transport the farm's Celery app speaks through: kombu's own, except that an item
in a queue's list that is not a message (not JSON, or JSON that is not kombu's envelope) goes
to the dead-letter list instead of raising into the worker's event loop, which would stop
the whole worker and leave the item for the next worker to die on (anyone who can write to
Redis can push one)."""

from __future__ import annotations

import json

import redis
from kombu.exceptions import KombuError
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import Message as KombuMessage

from .store import push_dead_letter


class MalformedEnvelope(KombuError):
    """A queue item that decodes as JSON but is not a message kombu could hand on."""

    def __init__(self, reason: str, raw):
        super().__init__(reason)
        self.raw = raw


def envelope_problem(payload) -> str | None:
    """Why `payload` (a decoded queue item) is not a kombu message envelope, or None."""
    if not isinstance(payload, dict):
        return f"a queue item must be a JSON object, got {type(payload).__name__}"
    properties = payload.get("properties")
    if not isinstance(properties, dict):
        return "the envelope has no 'properties' object"
    if not isinstance(properties.get("delivery_tag"), str):
        return "the envelope has no delivery tag"
    if not isinstance(properties.get("delivery_info", {}), dict):
        return "the envelope's delivery_info is not an object"
    if not isinstance(payload.get("headers", {}), (dict, type(None))):
        return "the envelope's headers are not an object"
    if not isinstance(payload.get("body", ""), str):
        return "the envelope's body is not a string"
    return None


class Message(KombuMessage):
    def __init__(self, payload, channel=None, **kwargs):
        problem = envelope_problem(payload)
        if problem is None:
            try:
                super().__init__(payload, channel, **kwargs)
                return
            except Exception as exc:  # a body that its encoding cannot decode, and the like
                problem = f"the envelope cannot be read: {type(exc).__name__}: {exc}"
        raise MalformedEnvelope(problem, payload)


UNREADABLE = (json.JSONDecodeError, UnicodeDecodeError, MalformedEnvelope)


class Channel(kombu_redis.Channel):
    Message = Message

    def _brpop_read(self, **options):
        try:
            return super()._brpop_read(**options)
        except UNREADABLE as exc:  # the item was popped: it is gone from the queue
            self._dead_letter(exc)
            return True

    def _get(self, queue):
        try:
            return super()._get(queue)
        except UNREADABLE as exc:
            self._dead_letter(exc)
            raise kombu_redis.Empty() from None

    def _dead_letter(self, exc: Exception) -> None:
        raw = getattr(exc, "raw", None) or getattr(exc, "doc", None) or getattr(exc, "object", b"")
        push_dead_letter(self.client, f"not a message: {exc}", raw=raw, source="broker")


# Redis refusing writes (out of memory under noeviction, a read-only replica) is a pause, like
# a lost connection: kombu counts it a channel error, on which Celery's consumer gives up
# ("Unrecoverable error: OutOfMemoryError") and the worker exits. As a connection error the
# consumer reconnects with backoff; a message popped meanwhile is sent again by the
# reconciler (its chunk stays queued with no message: workers.reconciler).
REFUSED_WRITES = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)


class Transport(kombu_redis.Transport):
    Channel = Channel
    connection_errors = kombu_redis.Transport.connection_errors + REFUSED_WRITES


UNACKED = "unacked"         # kombu's hash of delivered, unacknowledged messages
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's list for priority p of queue q: q + sep + p
SCANNED_PER_LIST = 100_000  # a queue longer than this is not searched beyond it


def waiting_task_ids(client, queue: str, priorities=range(10)) -> set[str]:
    """The task ids of every message in the broker for `queue`: waiting in its lists, or
    delivered and not yet acknowledged (running, or held for a retry's countdown). A chunk
    that is queued in our record but has no message here has lost it."""
    lists = [queue if p == 0 else f"{queue}{PRIORITY_SEPARATOR}{p}" for p in priorities]
    pipe = client.pipeline(transaction=False)
    for name in lists:
        pipe.lrange(name, 0, SCANNED_PER_LIST - 1)
    pipe.hvals(UNACKED)
    *waiting, unacked = pipe.execute()
    envelopes = [item for items in waiting for item in items]
    envelopes += [_first(entry) for entry in unacked]
    return {task_id for item in envelopes if (task_id := _task_id(item))}


def _first(entry):
    """An unacked entry is [envelope, exchange, routing key]."""
    try:
        return json.loads(entry)[0]
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def _task_id(item) -> str | None:
    try:
        envelope = json.loads(item) if isinstance(item, (str, bytes)) else item
        return envelope["headers"]["id"]
    except (ValueError, TypeError, KeyError):
        return None
