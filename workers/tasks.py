"""The Celery tasks: thin wrappers; the logic is in workers.execution and the pipelines."""

from __future__ import annotations

from .app import app
from . import execution


@app.task(name="latentfx.render_chunk", bind=True, max_retries=None)
def render_chunk(self, job: str, index: int) -> str:
    return execution.run_chunk(self, job, int(index))


@app.task(name="latentfx.assemble", bind=True, max_retries=None)
def assemble(self, job: str) -> str:
    return execution.assemble(self, job)
