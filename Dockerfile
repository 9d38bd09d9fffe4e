# One image for every Python process of the stack: the gateway, each gRPC
# service and each migration. The command picks the process (see Procfile).
#
#   docker build -t rivane-scim:dev .
#
# No secret is baked in: credentials arrive as environment variables or files
# at run time (deploy/compose.env.example, deploy/k8s/README.md).

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Every dependency is pinned and hash-checked; a changed wheel fails the build.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements.lock

# The project itself last, so that a code change reuses the dependency layer.
# setuptools comes from the lock above, hence no build isolation.
WORKDIR /app
COPY pyproject.toml ./
COPY protos ./protos
COPY services ./services
COPY gateway ./gateway
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build ./*.egg-info


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RIVANE_LOG_FORMAT=json \
    RIVANE_METRICS_HOST=0.0.0.0 \
    RIVANE_GATEWAY_HOST=0.0.0.0

# A fixed numeric id, so that Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 10001 rivane \
    && useradd --system --uid 10001 --gid rivane --home-dir /app \
        --shell /usr/sbin/nologin rivane

COPY --from=build /opt/venv /opt/venv
# `python -m` runs from /app, where the Alembic migrations sit beside their
# modules; the installed copy adds the `scimctl` command.
COPY --from=build --chown=root:root /app /app
WORKDIR /app

USER 10001:10001
EXPOSE 8080 9460 9461 9462 9463 50061 50062 50063 50064

CMD ["python", "-m", "gateway"]
