# policy-tracker API image.
#
#   docker build -t policy-tracker .
#   docker run -d -p 8000:8000 -v policy-tracker-data:/data policy-tracker
#
# BASE_IMAGE is any Debian-like image with Python 3.11 and its venv module. The default is the
# public one; tests/container/run.sh passes a base it made with debootstrap. Every stage uses
# the same base, so the virtual environment's interpreter path is the same in each.
# Steps are ordered so that a code change rebuilds only the last layer.
ARG BASE_IMAGE=python:3.11-slim

# ---- deps: the locked dependencies and the project (editable) in /opt/venv -------------------
FROM ${BASE_IMAGE} AS deps
SHELL ["/bin/sh", "-eu", "-c"]
# An index other than the default one (a mirror), when the build needs one. pip also trusts a
# CA bundle mounted at /run/host-ca.crt (buildah/podman: -v HOST_BUNDLE:/run/host-ca.crt:ro).
ARG PIP_INDEX_URL=""
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
COPY docker/requirements.lock /tmp/requirements.lock
RUN [ -n "${PIP_INDEX_URL}" ] || unset PIP_INDEX_URL; \
    [ -n "${PIP_EXTRA_INDEX_URL}" ] || unset PIP_EXTRA_INDEX_URL; \
    if [ -r /run/host-ca.crt ]; then export PIP_CERT=/run/host-ca.crt; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock
WORKDIR /app
COPY pyproject.toml ./
# Editable, against a stand-in package (and README): the venv maps `api` to /app/api, where the
# code lands in the last layer beside alembic.ini, migrations/, fixtures/ and seeds/ (the CLI
# finds them next to the package), so a code change leaves this layer cached. `pip check`
# fails the build when the lock lacks a dependency that pyproject.toml names.
RUN mkdir api; \
    touch api/__init__.py README.md; \
    /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation --editable .; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/pip uninstall --yes setuptools pip; \
    rm -rf api README.md ./*.egg-info

# ---- runtime ----------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/sh", "-eu", "-c"]
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" tracker; \
    useradd --system --uid "${APP_UID}" --gid tracker --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin tracker; \
    install -d -o "${APP_UID}" -g "${APP_UID}" -m 0750 /data
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRACKER_DATABASE_URL=sqlite:////data/policy-tracker.db \
    TRACKER_HOST=0.0.0.0 \
    TRACKER_PORT=8000 \
    TRACKER_WORKERS=2 \
    TRACKER_MIGRATE_ON_START=true \
    TRACKER_SEED_ON_START=true
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
USER ${APP_UID}:${APP_UID}
VOLUME ["/data"]
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('TRACKER_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/bin/sh", "/app/docker/entrypoint.sh"]
CMD ["serve"]
# Last, so a code change rebuilds this layer only. Owned by root: the app user only reads it.
# (Not byte-compiled: with vfs storage every extra step copies the whole tree; each process
# compiles the app's own modules in memory at start, the dependencies' are precompiled.)
COPY . /app
