"""E-mail over SMTP with the standard library's client, in a worker thread.

The message's ``Message-ID`` is built from its id (``<id@tracseq.notify>``), the same on every attempt: mail
systems that see it twice (after a crash between the relay's "250" and our record of it) can drop the copy.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from hub.notify.channels.base import Outgoing, Receipt
from hub.notify.errors import PermanentDeliveryError, RetryableDeliveryError

DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class SmtpRelay:
    """The hub's default relay, for e-mail channels that name no host of their own."""

    host: str | None = None
    port: int = 25
    security: str = "starttls"


def message_id(notification_id: str) -> str:
    return f"<{notification_id}@tracseq.notify>"


def build(message: Outgoing, recipient: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = str(message.config["from_address"])
    email["To"] = recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(message.id)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
    if message.severity == "critical":
        email["Importance"] = "high"
        email["X-Priority"] = "1"
    email.set_content(message.body)
    return email


class EmailChannel:
    def __init__(self, relay: SmtpRelay | None = None, *, timeout_s: float = 10.0) -> None:
        self.relay = relay or SmtpRelay()
        self.timeout_s = timeout_s

    async def send(self, message: Outgoing) -> Receipt:
        if not message.address:
            raise PermanentDeliveryError("no e-mail address to send to")
        own_host = message.config.get("host")
        host = own_host or self.relay.host
        if not host:
            raise PermanentDeliveryError(f"the e-mail channel {message.channel_name!r} names no SMTP host, nor the hub")
        security = str(message.config.get("security") or self.relay.security) if own_host else self.relay.security
        port = int(message.config.get("port") or (DEFAULT_PORTS[security] if own_host else self.relay.port))
        email = build(message, message.address)
        await asyncio.to_thread(self._send, str(host), port, security, message, email)
        return Receipt(provider_message_id=email["Message-ID"])

    def _send(self, host: str, port: int, security: str, message: Outgoing, email: EmailMessage) -> None:
        try:
            client: smtplib.SMTP
            if security == "tls":
                client = smtplib.SMTP_SSL(host, port, timeout=self.timeout_s, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(host, port, timeout=self.timeout_s)
            with client:
                if security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                username = message.config.get("username")
                if username:
                    client.login(str(username), str(message.secrets.get("password", "")))
                refused = client.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(code for code, _ in exc.recipients.values()), "refused the recipient", host) from exc
        except smtplib.SMTPAuthenticationError as exc:  # the channel is misconfigured: wait for a fix, do not drop
            raise RetryableDeliveryError(f"{host} refused our credentials ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, _text(exc.smtp_error), host) from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts, refused connections, TLS failures
            raise RetryableDeliveryError(f"cannot send through {host}:{port}: {type(exc).__name__}: {exc}") from exc
        if refused:
            code, text = next(iter(refused.values()))
            raise _by_code(code, _text(text), host)


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def _by_code(code: int, what: str, host: str) -> RetryableDeliveryError | PermanentDeliveryError:
    detail = f"{host} answered {code}: {what}"
    if 400 <= code < 500:
        return RetryableDeliveryError(detail, status_code=code)
    return PermanentDeliveryError(detail, status_code=code)
