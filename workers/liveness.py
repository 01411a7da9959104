"""A claim kept alive from a thread while the work runs. A chunk or an assembly holds a lease
that the reconciler hands to another worker once it runs out; the work itself cannot be
trusted to renew it (a job that never calls `cancel()`, a model that takes minutes to load,
an encoder that runs for long without a callback), so a thread renews it every third of the
lease for as long as the work runs, and notices when another delivery took the claim."""

from __future__ import annotations

import threading
from typing import Callable


class Heartbeat:
    """`with Heartbeat(renew, every=s) as beat:` calls renew() every `s` seconds until the
    block ends; `beat.lost` turns true once renew() says the claim is someone else's."""

    def __init__(self, renew: Callable[[], bool], *, every: float):
        self._renew, self._every = renew, every
        self._stop, self._lost = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="latentfx-heartbeat",
                                        daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                still_ours = self._renew()
            except Exception:  # Redis away for a moment: the lease has time left, try again
                continue
            if not still_ours:
                self._lost.set()
                return
