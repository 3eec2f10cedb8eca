# Plimsoll: one image for the web app, the Celery workers and beat (docker-compose.yml picks
# the command). Build with `docker compose build` or `docker build -t plimsoll .`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDIA_ROOT=/app/media

# WeasyPrint renders PDFs through Pango/HarfBuzz and needs fonts it can find via fontconfig.
# `fontconfig` brings fc-cache, so the font cache is built here rather than by every process.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        libfontconfig1 \
        fontconfig \
        fonts-dejavu-core \
        fonts-liberation2 \
        shared-mime-info \
    && fc-cache -f \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Requirements first, so a code change does not reinstall every dependency.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Static files are part of the image (served by WhiteNoise). Settings refuse to load without a
# SECRET_KEY; this throwaway one exists only for this command and is not kept in the image.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0

# Run as an unprivileged user. /app/media is the only place the app writes; a named volume
# mounted there for the first time copies this ownership.
RUN groupadd --system --gid 10001 plimsoll \
    && useradd --system --uid 10001 --gid plimsoll --create-home --home-dir /home/plimsoll \
        --shell /usr/sbin/nologin plimsoll \
    && mkdir -p /app/media \
    && chown plimsoll:plimsoll /app/media
USER 10001:10001

EXPOSE 8000

# Django rejects a Host header not in ALLOWED_HOSTS, so the check presents the first allowed
# host (a leading-dot domain without its dot; "*" as localhost) instead of 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as r; h = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('.'); r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': h if h not in ('', '*') else 'localhost'}), timeout=5)"

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60", "--access-logfile", "-"]
