"""The render farm: a Celery app fed through Redis, our own job store in Redis, thin tasks
that call the pipelines, the fan-in, and the reconciler (DESIGN §4)."""
