# One image for the CLI and every worker. PyPI's Linux torch wheel carries CUDA, so the same
# image runs on CPU-only and GPU hosts; ffmpeg comes inside the imageio-ffmpeg wheel.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md cli.py ./
COPY latentfx latentfx
COPY pipelines pipelines
COPY workers workers
# The storage root exists and belongs to the non-root user, so a fresh named volume mounted
# at /farm takes that ownership and the workers can write jobs there.
RUN pip install . && useradd --create-home --uid 1000 latentfx \
    && mkdir -p /farm && chown latentfx:latentfx /farm
ENV LATENTFX_STORAGE=/farm
USER latentfx
ENTRYPOINT ["latentfx"]
CMD ["--help"]
