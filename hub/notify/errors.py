"""What goes wrong delivering a message, sorted the way the delivery loop must treat it.

``RetryableDeliveryError``: the provider is down, slow, rate-limiting or refusing our credentials; try again later
(and count it against the channel's circuit breaker). ``PermanentDeliveryError``: this message cannot be delivered
as it is (a refused recipient, a payload the provider rejects); retrying changes nothing. Every outside library's
error is translated into one of these at the channel boundary.
"""

from __future__ import annotations


class NotifyError(Exception):
    """The root of the notifications package's errors."""


class DeliveryError(NotifyError):
    def __init__(self, detail: str, *, status_code: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.retry_after_s = retry_after_s


class RetryableDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass
