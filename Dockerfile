# The LabelLoop image: web (gunicorn + whitenoise), Celery workers, beat and flower.
# docker-compose.yml runs every process from this one image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LABELLOOP_DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image (hashed names, compressed, served by whitenoise).
# Settings refuse to load without a secret and a database URL; neither is used here.
RUN DEBUG=0 SECRET_KEY=collectstatic-only DATABASE_URL=postgresql://build@localhost/build LABELLOOP_IMAGE_ROOTS=/images \
    python manage.py collectstatic --noinput

# Run as an unprivileged user; /data is the shared volume (snapshots, thumbnails, runs).
RUN useradd --create-home --uid 1000 labelloop \
    && mkdir -p /data /images \
    && chown labelloop:labelloop /data
USER labelloop

EXPOSE 8000
CMD ["gunicorn", "annotator.wsgi:application", "--bind=0.0.0.0:8000", "--workers=3", "--threads=4", "--access-logfile=-"]
