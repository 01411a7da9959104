"""Run a consumer on a background thread, fed through a small bounded queue.

The producer (a model decoding frames) keeps going while the consumer converts, measures and
writes the previous batch; the bound keeps memory flat however long the job. An exception in
the consumer reaches the producer at its next put() or at close().
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

_DONE = object()


class ConsumerThread:
    def __init__(self, consumer: Callable[..., None], *, maxsize: int = 2, name: str = "consumer"):
        self._consumer = consumer
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, *args) -> None:
        self._raise_if_failed()
        self._queue.put(args)

    def close(self) -> None:
        """Wait for every queued item to be consumed; re-raise the consumer's error."""
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_if_failed()

    def abandon(self) -> None:
        """Stop without consuming what is left (the producer failed)."""
        self._error = self._error or RuntimeError("abandoned")
        self._queue.put(_DONE)
        self._thread.join()

    def __enter__(self) -> "ConsumerThread":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:  # after a failure, drain so put() never blocks
                try:
                    self._consumer(*item)
                except BaseException as exc:  # handed to the producer thread
                    self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
