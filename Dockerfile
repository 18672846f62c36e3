ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS build
# Stage 1: a virtual environment with the project and its pinned dependencies, then stripped.
ARG PIP_VERSION=26.3
ENV PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first (the heavy layer; it changes only with the lock).
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir "pip==${PIP_VERSION}" \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.lock

# The project, non-editable. --no-index: the lock must cover every dependency of .[dask,export]
# (a stale lock fails here, not at run time); --no-build-isolation: built with the lock's
# setuptools and wheel.
COPY . /src
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-build-isolation \
        -c /tmp/requirements.lock '/src[dask,export]'

# Drop what is only needed to compile against the packages or debug them: TensorFlow's C++
# headers and AOT sources, libclang (a compiler library for TensorFlow's tooling, never imported
# at run time), the packages' own test suites, and the static symbol tables of TensorFlow's
# shared libraries (strip keeps the dynamic symbols; about 270 MB). binutils stays in this stage.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && /opt/venv/bin/pip uninstall --yes libclang \
 && site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && rm -rf "$site/tensorflow/include" "$site/tensorflow/xla_aot_runtime_src" \
 && find "$site" -depth -type d -name tests -exec rm -rf {} + \
 && find "$site/tensorflow" -type f -name '*.so*' -exec strip --strip-unneeded {} +

# Stage 2: the image: the stripped environment, MNIST and the configs; nothing else from stage 1.
#   docker build -t mnist-bench .
#   docker run --rm -v "$PWD/reports:/reports" mnist-bench            # default grid -> /reports/latest
#   docker run --rm -v "$PWD/reports:/reports" mnist-bench \
#       mnist-bench run --config benchmarks/configs/smoke.toml --out /reports/smoke
# /reports  where reports go: mount it (writable by uid 10001, or run with --user).
# /cache    the feature cache ($MNIST_BENCH_CACHE); mount a volume there to keep it between runs.
FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MNIST_DATA_DIR=/opt/mnist-bench/data/mnist \
    MNIST_BENCH_CACHE=/cache
COPY --from=build /opt/venv /opt/venv

# Provenance: the commit the image was built from (the image has no .git), reported in every
# run's environment.json and REPORT.md. The workflow and .ci/container-smoke.sh set both.
ARG GIT_COMMIT=unknown
ARG GIT_DIRTY=unknown
LABEL org.opencontainers.image.revision=$GIT_COMMIT
ENV MNIST_BENCH_GIT_COMMIT=$GIT_COMMIT \
    MNIST_BENCH_GIT_DIRTY=$GIT_DIRTY

# The data (verified against SHA256SUMS.content on load) and the configs, in the WORKDIR, so
# `--config benchmarks/configs/smoke.toml` works and nothing is fetched at run time.
WORKDIR /opt/mnist-bench
COPY data/mnist/ data/mnist/
COPY benchmarks/configs/ benchmarks/configs/

RUN groupadd --gid 10001 bench \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin bench \
 && mkdir -p /reports /cache \
 && chown bench:bench /reports /cache \
 && chmod 1777 /reports /cache
USER 10001:10001

# Smoke test: every extractor's and backend's dependency imports, every registered plug-in
# (entry point) loads, TensorFlow and FAISS compute, and the CLI answers. A broken image fails here.
RUN python -c "import importlib; \
mods = 'numpy scipy pandas sklearn skimage tensorflow keras faiss dask dask.array distributed \
dask_ml zarr pyarrow tabulate matplotlib matplotlib.pyplot kneed filelock threadpoolctl psutil \
pytest_benchmark'.split(); \
[importlib.import_module(m) for m in mods]; \
from mnist_bench import clustering, features; from mnist_bench.data.datasets import DATASETS; \
[reg.load(name) for reg in (DATASETS, features.EXTRACTORS, clustering.BACKENDS) for name in reg.names()]; \
import numpy as np, tensorflow as tf, faiss; \
assert float(tf.reduce_sum(tf.ones((2, 2)))) == 4.0; \
x = np.random.default_rng(0).random((200, 8), dtype=np.float32); km = faiss.Kmeans(8, 4, niter=2, seed=0); km.train(x); \
print('smoke import ok:', len(mods), 'modules; tensorflow', tf.__version__, '; faiss', faiss.__version__)" \
 && mnist-bench list

CMD ["mnist-bench", "run", "--config", "benchmarks/configs/default.toml", "--out", "/reports/latest"]
