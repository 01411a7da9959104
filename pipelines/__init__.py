"""One module per job: a JSON-serialisable Spec and run(spec, *, progress, cancel)."""
