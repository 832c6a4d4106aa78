# genesys-reports: the always-on scheduler (`serve`), or one-shot `run` for external schedulers.
# The Debian release is pinned (bookworm), and with it the apt packages' versions below.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GENESYS_REPORTS_CONFIG=/srv/settings.yaml \
    REPORTS_DIRECTORY=/data/reports \
    STATE_DIRECTORY=/data/state \
    GENESYS_REPORTS_REQUIRE_REAL_ORG=1 \
    MPLCONFIGDIR=/tmp/matplotlib

# MPLCONFIGDIR: matplotlib (the HTML report's charts) keeps its font cache there; the home
# directory is not writable by the service's user.
# tini forwards SIGTERM/SIGUSR1/SIGHUP to the service and reaps children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /srv --no-create-home app

WORKDIR /srv
# Dependencies in their own layer: the same `pip install .` as the README, from pyproject.toml
# alone first (with an empty package), so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir app && touch app/__init__.py && pip install . && pip uninstall -y genesys-reports \
    && rm -rf app
COPY app ./app
RUN pip install --no-deps .

COPY settings.yaml ./
RUN mkdir -p /data/reports /data/state && chown -R 10001:10001 /data
VOLUME ["/data"]
USER 10001:10001
# /healthz and /metrics, when settings.yaml has `service: {listen: "0.0.0.0:9464"}`
EXPOSE 9464

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["genesys-reports", "check"]
ENTRYPOINT ["/usr/bin/tini", "--", "genesys-reports"]
CMD ["serve"]
