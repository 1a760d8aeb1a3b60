"""Running a real Celery worker inside this process: the demo's embedded worker and the tests' worker.

Production runs workers as their own processes, one per GPU:

    celery -A config worker -Q gpu -P solo -c 1        # render tasks (one GPU each)
    celery -A config worker -Q default                 # everything else

Without CELERY_BROKER_URL the broker is kombu's SQLAlchemy transport on a SQLite file in the data
folder, so `embedded_worker()` gives the demo a genuine worker (same routing, late acks, retries,
messages through the broker) with no server to install. With CELERY_BROKER_URL set (Redis in CI),
the same helper consumes from that broker instead.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from config.celery import app

logger = logging.getLogger(__name__)

WORKER_QUEUES = ("gpu", "default")


def reconnect() -> None:
    """Drop the app's pooled broker connections, e.g. after the tests pointed it at another broker."""
    app.close()


@contextmanager
def embedded_worker(*, queues=WORKER_QUEUES, loglevel: str = "WARNING", shutdown_timeout: float = 120.0):
    """Run a solo-pool worker in a thread for the duration of the block, consuming `queues`.

    On leaving, the worker finishes the task it is running (a segment) and stops; messages still
    queued stay in the broker for the next worker.
    """
    # Imported here: the module is Celery's embedded-worker support, only needed when one runs.
    from celery.contrib.testing.worker import start_worker

    with start_worker(app, pool="solo", concurrency=1, loglevel=loglevel, perform_ping_check=False,
                      shutdown_timeout=shutdown_timeout, queues=list(queues)) as worker:
        logger.info("embedded Celery worker consuming %s from %s", ", ".join(queues),
                    app.connection_for_read().as_uri())
        yield worker


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll `predicate()` until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)
