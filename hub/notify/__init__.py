"""Notifications: a durable outbox of messages to people, delivered over e-mail, Slack, Teams, SMS and webhooks.

For the alerts module, per escalation step and person::

    from hub.notify import enqueue

    messages = await enqueue(
        session,                      # the alert's own write transaction: stored if and only if it commits
        tenant_id=alert.tenant_id,
        user_id=on_call.id,
        kind="alert.escalated",       # alert.raised | alert.escalated | alert.acknowledged | alert.resolved | …
        severity="critical",          # info | warning | critical (critical ignores quiet hours)
        dedup_key=f"alert:{alert.id}:step:{step}",
        context={"title": "Freezer F-12 above -70 °C", "value": "-61.2 °C", "limit": "-70 °C",
                 "since": alert.opened_at, "step": step, "location": "Room 2.14", "link": url},
        channels=None,                # or kinds/channel ids, e.g. ["sms"]; None: every channel the user chose
    )

``enqueue`` is idempotent on (tenant, dedup_key, user, channel): the same step queued again creates nothing and
returns the messages stored the first time. It returns ``[]`` when nobody can be reached (a disabled user, no
channel fits): go on up the chain. Messages are rendered in the user's language (en, de, fr; see
``hub.notify.templates`` for the context keys), held back until the end of their quiet hours unless critical, and
each one is recorded as a ``notification.queued`` event. Delivery changes them to sent, delivered (where the
channel reports it) or failed, with ``notification.sent``/``notification.failed`` events.

``Notifier(db).run(stop)`` is the delivery loop (in the API process for the embedded hub, in ``tracseq hub
worker`` otherwise; any number may run); ``run_once()`` delivers one batch.
"""

from __future__ import annotations

from hub.notify.backoff import Backoff
from hub.notify.breaker import Breakers, BreakerState
from hub.notify.channels import Channel, Outgoing, Receipt, SmtpRelay
from hub.notify.delivery import Notifier
from hub.notify.errors import DeliveryError, NotifyError, PermanentDeliveryError, RetryableDeliveryError
from hub.notify.outbox import Severity, enqueue, record_receipt, requeue
from hub.notify.quiet import QuietHours
from hub.notify.templates import LANGUAGES, render

__all__ = [
    "LANGUAGES",
    "Backoff",
    "BreakerState",
    "Breakers",
    "Channel",
    "DeliveryError",
    "Notifier",
    "NotifyError",
    "Outgoing",
    "PermanentDeliveryError",
    "QuietHours",
    "Receipt",
    "RetryableDeliveryError",
    "Severity",
    "SmtpRelay",
    "enqueue",
    "record_receipt",
    "render",
    "requeue",
]
