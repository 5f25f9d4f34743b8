# The portal's image: one image, three roles (web, worker, beat) chosen by the command.
# Face models are not baked in: mount a model pack you hold a licence for at /models and set
# FACE_MODEL_DIR (see README, "Face model licence").
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/facerights
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only VAR_DIR=/tmp/build python manage.py collectstatic --noinput && useradd --system --home /app facerights && mkdir -p /var/lib/facerights \
    && chown facerights /var/lib/facerights
USER facerights
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
