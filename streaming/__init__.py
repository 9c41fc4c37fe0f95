"""Souffleur's streaming core: audio ingest, VAD, live ASR and the websocket server.

Parallelism comes from the inference scheduler's workers; BLAS thread pools in
numpy would oversubscribe the cores (measured: each call twice as slow), so
they are limited to one thread unless the operator says otherwise. This only
takes effect when `streaming` is imported before numpy, as the CLI does.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
