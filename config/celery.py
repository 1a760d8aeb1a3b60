"""The Celery app. Render tasks are routed to the `gpu` queue (see settings.CELERY_TASK_ROUTES)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consentframe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
