# First version: the hardened, always-on service image comes with the scheduler.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /srv --no-create-home app

WORKDIR /srv
# The same install step as the README's: pip install the project from its pyproject.toml.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

COPY settings.yaml ./
USER 10001:10001
ENTRYPOINT ["genesys-reports"]
CMD ["check-config"]
