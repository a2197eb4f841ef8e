# ShareHub's image, one for web, worker and beat (docker-compose.yml picks the command).

# --- Front end: node and npm exist only in this stage -----------------------------------------
FROM node:22-bookworm-slim AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: every package ships built files; none needs to run code as it installs.
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
# The same script as `make assets`: copies the compiled front-end files into build/frontend,
# which is what the settings serve.
COPY scripts/build-frontend scripts/build-frontend
RUN ./scripts/build-frontend

# --- Runtime -------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements/base.lock requirements/base.lock
# Pango and a font for WeasyPrint, which draws subject access reports as PDF.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN pip install -r requirements/base.lock
# The extract readers and validation the platform shares with agencies' sharehub-bridge.
COPY bridge bridge
RUN pip install --no-deps ./bridge

RUN groupadd --system --gid 10001 sharehub \
    && useradd --system --uid 10001 --gid sharehub --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin sharehub

# The code stays owned by root, read-only to the app; only its state directories are writable.
COPY . .
COPY --from=frontend /src/build/frontend build/frontend
RUN mkdir -p /app/var /data/private /data/beat \
    && chown sharehub:sharehub /app/var /data/private /data/beat

# Fail safe: production unless told otherwise, so a missing secret stops start-up.
ENV SHAREHUB_PRODUCTION=true \
    SHAREHUB_VAR_DIR=/app/var \
    SHAREHUB_PRIVATE_DIR=/data/private \
    WEB_CONCURRENCY=3

USER sharehub
EXPOSE 8000
# docker-compose.yml runs migrate and collectstatic before this for the web service.
CMD ["gunicorn", "sharehub.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
