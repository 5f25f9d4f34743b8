# The portal's image: one image, three roles (web, worker, beat) chosen by the command.
# Face models are not baked in: mount a model pack you hold a licence for at /models and set
# FACE_MODEL_DIR (see README, "Face model licence"). .dockerignore keeps var/ (personal data),
# .venv, .git and benchmark results out of the build context.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VAR_DIR=/var/lib/facerights STATIC_ROOT=/app/staticfiles WHITENOISE_USE_FINDERS=0
# postgresql-client: pg_dump/pg_restore for scripts/backup and scripts/restore (PostgreSQL 15).
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files are built into the image, into the STATIC_ROOT the runtime serves (WhiteNoise).
RUN SECRET_KEY=build-only VAR_DIR=/tmp/build python manage.py collectstatic --noinput \
    && rm -rf /tmp/build \
    && useradd --system --home /app facerights \
    && mkdir -p /var/lib/facerights /var/lib/facerights-anchors \
    && chown facerights /var/lib/facerights /var/lib/facerights-anchors
USER facerights
EXPOSE 8000
CMD ["gunicorn", "-c", "portal/gunicorn.conf.py", "portal.wsgi"]
