# The service in a container. compose.yaml runs it beside MariaDB; docs/production.md says how.
#
#   docker build -t martingale .
#
# Two stages: the first builds the virtualenv (pip, the wheels, the project's own build), the
# second copies only that virtualenv onto a fresh slim image. Every dependency ships wheels for
# CPython 3.11 on x86-64 and arm64, so no compiler is installed in either; if a platform lacks a
# wheel, add build-essential to the first stage only, never to the second.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# The same pins as every developer and CI install (constraints.txt), without the dev extras.
RUN python -m venv /opt/martingale \
    && /opt/martingale/bin/pip install -c constraints.txt .

FROM python:3.11-slim
# mariadb-client: mysqldump, which `martingale db backup` runs for a MySQL/MariaDB database.
RUN apt-get update \
    && apt-get install -y --no-install-recommends mariadb-client \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid, so secret files mounted from the host (compose bind-mounts them with the host's
# owner and mode) can be given to it: chown 10001 FILE; chmod 600 FILE.
RUN groupadd --system --gid 10001 martingale \
    && useradd --system --uid 10001 --gid martingale --home-dir /var/lib/martingale \
        --shell /usr/sbin/nologin martingale \
    && install -d -o martingale -g martingale -m 0700 \
        /var/lib/martingale /var/lib/martingale/var /var/lib/martingale/backups
COPY --from=build /opt/martingale /opt/martingale
ENV PATH=/opt/martingale/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The working directory holds var/: the SQLite database and the paper venue's state by default.
WORKDIR /var/lib/martingale
VOLUME ["/var/lib/martingale/var"]
USER martingale
EXPOSE 8000
# /health/live answers while the process does (readiness, /health/ready, also needs fresh
# prices and the database). The config must serve the web on port 8000, on 0.0.0.0 to be
# reached from outside the container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["martingale"]
CMD ["run", "--config", "/etc/martingale/martingale.yaml"]
