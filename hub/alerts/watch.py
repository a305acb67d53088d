"""Silence as a condition: a channel with no reading, an edge that has not synced or checkpointed in time, and a
storage unit whose capacity warning has gone away. Found by periodic scans (nothing arrives to say that nothing
arrived), read first and written only when something changes, so an idle hub takes no write lock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.book import AlertBook, Condition
from hub.alerts.rules import SilenceParams, parse_params, silent_too_long
from hub.alerts.sources import rule_key
from hub.db.alerts_models import Alert, AlertRule, AlertSeries
from hub.db.ingest_models import Cosignature, DeviceLog
from hub.db.models import Device
from hub.db.storage_models import StorageContainer


@dataclass(frozen=True)
class Finding:
    """Open ``condition``, or clear the alert open under (``tenant_id``, ``dedup_key``)."""

    tenant_id: str
    dedup_key: str
    condition: Condition | None = None


class Watch:
    def __init__(self, book: AlertBook) -> None:
        self.book = book

    async def findings(self, session: AsyncSession, now: datetime) -> list[Finding]:
        rules = (
            await session.execute(
                select(AlertRule).where(
                    AlertRule.enabled.is_(True),
                    AlertRule.kind.in_(["no_data", "sync_silence", "checkpoint_silence"]),
                )
            )
        ).scalars()
        found: list[Finding] = []
        for rule in rules:
            params = parse_params(rule.kind, rule.params)
            if not isinstance(params, SilenceParams):
                continue
            if rule.kind == "no_data":
                found += await self._no_data(session, rule, params, now)
            else:
                found += await self._device_silence(session, rule, params, now)
        found += await self._capacity_gone(session)
        return found

    async def apply(self, session: AsyncSession, findings: Sequence[Finding], now: datetime) -> int:
        """Open or clear what the scan found, each checked again under this transaction; returns changes."""
        changed = 0
        for finding in findings:
            alert = await self.book.open_by_key(session, finding.tenant_id, finding.dedup_key)
            if finding.condition is not None and alert is None:
                await self.book.open(session, finding.condition, now)
                changed += 1
            elif finding.condition is None and alert is not None:
                await self.book.resolve(session, alert, now=now)
                changed += 1
        return changed

    async def _open_keys(self, session: AsyncSession, rule: AlertRule) -> set[str]:
        prefix = f"rule:{rule.id}:"
        rows = await session.execute(
            select(Alert.open_key).where(Alert.tenant_id == rule.tenant_id, Alert.open_key.like(prefix + "%"))
        )
        return {k for k in rows.scalars() if k is not None}

    async def _no_data(
        self, session: AsyncSession, rule: AlertRule, params: SilenceParams, now: datetime
    ) -> list[Finding]:
        query = select(AlertSeries).where(AlertSeries.tenant_id == rule.tenant_id)
        if rule.device_id is not None:
            query = query.where(AlertSeries.device_id == rule.device_id)
        if rule.source is not None:
            query = query.where(AlertSeries.source == rule.source)
        if rule.channel is not None:
            query = query.where(AlertSeries.channel == rule.channel)
        open_keys = await self._open_keys(session, rule)
        found = []
        for series in (await session.execute(query)).scalars():
            key = rule_key(rule.id, series.device_id, series.source, series.channel)
            silent = silent_too_long(series.last_ts, params.after_s, now)
            if silent and key not in open_keys:
                condition = Condition(
                    tenant_id=rule.tenant_id,
                    dedup_key=key,
                    origin="rule",
                    kind="no_data",
                    severity=rule.severity,
                    title=f"no data from {series.source}/{series.channel} for {params.after_s} s ({rule.name})",
                    started_at=series.last_ts + timedelta(seconds=params.after_s),
                    device_id=series.device_id,
                    source=series.source,
                    channel=series.channel,
                    rule_id=rule.id,
                    value=None,
                    details={"rule": rule.name, "last_reading_at": series.last_ts.isoformat()},
                )
                found.append(Finding(rule.tenant_id, key, condition))
            elif not silent and key in open_keys:
                found.append(Finding(rule.tenant_id, key))
        return found

    async def _device_silence(
        self, session: AsyncSession, rule: AlertRule, params: SilenceParams, now: datetime
    ) -> list[Finding]:
        query = (
            select(Device.id, Device.name, Device.created_at, DeviceLog.last_sync_at)
            .join(DeviceLog, DeviceLog.device_id == Device.id)
            .where(Device.tenant_id == rule.tenant_id, Device.disabled.is_(False))
        )
        if rule.device_id is not None:
            query = query.where(Device.id == rule.device_id)
        devices = (await session.execute(query)).all()
        cosigned: dict[str, datetime] = {}
        if rule.kind == "checkpoint_silence" and devices:
            rows = await session.execute(
                select(Cosignature.device_id, func.max(Cosignature.cosigned_at))
                .where(Cosignature.device_id.in_([d[0] for d in devices]))
                .group_by(Cosignature.device_id)
            )
            cosigned = {device_id: at for device_id, at in rows.all() if at is not None}
        open_keys = await self._open_keys(session, rule)
        found = []
        for device_id, name, created_at, last_sync_at in devices:
            if rule.kind == "sync_silence":
                last, what = last_sync_at or created_at, "synced"
            else:
                last, what = cosigned.get(device_id, created_at), "had a checkpoint cosigned"
            key = rule_key(rule.id, device_id)
            silent = silent_too_long(last, params.after_s, now)
            if silent and key not in open_keys:
                condition = Condition(
                    tenant_id=rule.tenant_id,
                    dedup_key=key,
                    origin="rule",
                    kind=rule.kind,
                    severity=rule.severity,
                    title=f"edge {name} has not {what} for {params.after_s} s ({rule.name})",
                    started_at=last + timedelta(seconds=params.after_s),
                    device_id=device_id,
                    rule_id=rule.id,
                    details={"rule": rule.name, "last_at": last.isoformat()},
                )
                found.append(Finding(rule.tenant_id, key, condition))
            elif not silent and key in open_keys:
                found.append(Finding(rule.tenant_id, key))
        return found

    async def _capacity_gone(self, session: AsyncSession) -> list[Finding]:
        """Capacity alerts whose unit is no longer above its threshold (storage clears the flag, quietly)."""
        rows = await session.execute(
            select(Alert.tenant_id, Alert.open_key)
            .join(StorageContainer, StorageContainer.id == Alert.unit_id)
            .where(Alert.origin == "capacity", Alert.open_key.is_not(None), StorageContainer.capacity_warned.is_(False))
        )
        return [Finding(tenant_id, key) for tenant_id, key in rows.all() if key is not None]
