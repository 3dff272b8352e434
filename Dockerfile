# Certkeeper image: one image for every process; the command picks it
# (`api`, `worker issuer`, `worker renewer`, `migrate`, `all-in-one`, `token create ...`,
# `keys generate`, `backup`, `restore`).
#
#   docker build -t certkeeper:0.1.0 .
#
# The build stage installs the hashed runtime lock (requirements/runtime.txt, wheels only, so
# no compiler is needed anywhere) and then Certkeeper itself, built with the locked build
# backend (requirements/build.txt), into a virtualenv; the final stage
# copies that virtualenv onto the same base and runs as an unprivileged user. The base is
# pinned to an exact Python patch release and Debian release; bump it deliberately.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/runtime.txt requirements/build.txt requirements/
RUN python -m venv /opt/certkeeper \
    && /opt/certkeeper/bin/pip install --require-hashes --no-deps --only-binary :all: \
        -r requirements/runtime.txt \
    && python -m pip install --require-hashes --no-deps --only-binary :all: \
        -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# Built with the locked build backend of this stage's Python, so the image's virtualenv
# holds the runtime lock and Certkeeper only.
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && /opt/certkeeper/bin/pip install --no-deps /tmp/wheels/certkeeper-*.whl \
    && /opt/certkeeper/bin/certkeeper --help >/dev/null

FROM python:3.11.14-slim-bookworm
RUN groupadd --system --gid 10001 certkeeper \
    && useradd --system --uid 10001 --gid certkeeper --home-dir /var/lib/certkeeper \
        --create-home --shell /usr/sbin/nologin certkeeper
COPY --from=build /opt/certkeeper /opt/certkeeper
ENV PATH=/opt/certkeeper/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CERTKEEPER_DATA_DIR=/var/lib/certkeeper \
    CERTKEEPER_HTTP_HOST=0.0.0.0 \
    CERTKEEPER_HTTP_PORT=8080
USER 10001:10001
WORKDIR /var/lib/certkeeper
EXPOSE 8080
ENTRYPOINT ["certkeeper"]
CMD ["all-in-one"]
