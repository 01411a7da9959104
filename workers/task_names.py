"""The names our Celery tasks are registered and sent under, kept in one place so that the
worker that runs a task and everyone who queues one agree."""

RENDER_CHUNK = "latentfx.render_chunk"  # args: [job, chunk index]
ASSEMBLE = "latentfx.assemble"          # args: [job]
