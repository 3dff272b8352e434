# Certkeeper image: one image for every process; the command picks it
# (`api`, `worker issuer`, `migrate`, `all-in-one`, `token create ...`, `keys generate`).
#
#   docker build -t certkeeper:0.1.0 .

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN python -m venv /opt/certkeeper \
    && /opt/certkeeper/bin/pip install .

FROM python:3.11-slim
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
