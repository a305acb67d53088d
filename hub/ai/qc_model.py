"""Sequencing QC prediction: the probability that a job passes, from its samples' attributes and QC history.

A logistic regression on standardised features, calibrated with Platt scaling (scikit-learn's
``CalibratedClassifierCV``, sigmoid) on a later slice of the tenant's history, and evaluated on the newest slice it
never saw (Brier score, ROC AUC, a ten-bin reliability table). The split is by time, not at random: a model is used
on jobs that come after its training data, and is measured that way.

The model is stored as JSON numbers (medians, scaling, coefficients, the two calibration parameters), not a
pickle: nothing is unpickled from the database, and a prediction is a dot product that explains itself — each
feature's contribution to the log-odds of passing is reported with the probability.

``QcModels`` reads a tenant's history from the database, keeps each trained version in ``ai_models`` (with its
data range and report), and predicts for one job; everything above it is pure code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.ai.errors import NotEnoughDataError
from hub.audit.trail import AuditTrail
from hub.db.ai_models import AiModel
from hub.db.base import utcnow
from hub.db.sample_models import QcResult, Sample, SampleType
from hub.db.sequencing_models import SequencingJob, SequencingLibrary, SequencingRun
from hub.domain.identity import Principal
from hub.errors import NotFoundError

KIND = "sequencing_qc"
MIN_JOBS = 40  # finished jobs before a model is trained: fewer cannot fill three time slices with both outcomes
TRAIN_SHARE, CALIBRATE_SHARE = 0.6, 0.2  # the rest, the newest, is held out for the report
BINS = 10
TOP_FEATURES = 5
NUMERIC = (
    "samples",
    "log10_requested_reads",
    "mean_concentration",
    "min_concentration",
    "mean_volume_ul",
    "failed_qc_share",
    "released_share",
    "mean_age_days",
)
MEANING = {
    "samples": "number of samples in the job",
    "log10_requested_reads": "reads requested (log10)",
    "mean_concentration": "mean sample concentration",
    "min_concentration": "lowest sample concentration",
    "mean_volume_ul": "mean sample volume (µL)",
    "failed_qc_share": "share of samples with a failed QC result before the job",
    "released_share": "share of samples released after a failed QC",
    "mean_age_days": "mean days from registration to the job",
}

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class SampleFacts:
    sample_type: str
    concentration: float | None
    volume_ul: float | None
    failed_qc: int  # QC results recorded before the job
    passed_qc: int
    released: int  # failed results released by a signature
    age_days: float


@dataclass(frozen=True)
class JobFacts:
    job_id: str
    platform: str
    requested_reads: int
    at: datetime
    samples: tuple[SampleFacts, ...]
    passed: bool | None = None  # the outcome of a finished job


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def raw_features(job: JobFacts) -> dict[str, float]:
    """A job's features by name; NaN where a value is unknown (filled with the training median later)."""
    samples = job.samples
    concentrations = [s.concentration for s in samples if s.concentration is not None]
    volumes = [s.volume_ul for s in samples if s.volume_ul is not None]
    count = len(samples) or 1
    found = {
        "samples": float(len(samples)),
        "log10_requested_reads": math.log10(max(job.requested_reads, 1)),
        "mean_concentration": _mean(concentrations),
        "min_concentration": min(concentrations) if concentrations else math.nan,
        "mean_volume_ul": _mean(volumes),
        "failed_qc_share": sum(1 for s in samples if s.failed_qc) / count,
        "released_share": sum(1 for s in samples if s.released) / count,
        "mean_age_days": _mean([s.age_days for s in samples]),
        f"platform={job.platform}": 1.0,
    }
    for sample in samples:
        key = f"type={sample.sample_type}"
        found[key] = found.get(key, 0.0) + 1.0 / count
    return found


@dataclass(frozen=True)
class Contribution:
    feature: str
    meaning: str
    value: float
    contribution: float  # to the log-odds of passing, against the average training job


@dataclass(frozen=True)
class Prediction:
    probability: float
    contributions: list[Contribution]


@dataclass(frozen=True)
class QcModel:
    features: list[str]
    medians: list[float]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    a: float  # calibrated probability = 1 / (1 + exp(a * decision + b)), Platt's form
    b: float

    def matrix(self, jobs: Sequence[JobFacts]) -> Floats:
        rows = [raw_features(j) for j in jobs]
        x = np.array([[r.get(name, 0.0 if "=" in name else math.nan) for name in self.features] for r in rows])
        x = x.reshape(len(rows), len(self.features))
        medians = np.asarray(self.medians)
        return np.asarray(np.where(np.isnan(x), medians, x), dtype=np.float64)

    def standardised(self, x: Floats) -> Floats:
        return np.asarray((x - np.asarray(self.mean)) / np.asarray(self.scale), dtype=np.float64)

    def probabilities(self, jobs: Sequence[JobFacts]) -> Floats:
        decision = self.standardised(self.matrix(jobs)) @ np.asarray(self.coef) + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(self.a * decision + self.b)), dtype=np.float64)

    def predict(self, job: JobFacts, top: int = TOP_FEATURES) -> Prediction:
        x = self.matrix([job])
        z: Floats = self.standardised(x)[0]
        parts = -self.a * np.asarray(self.coef) * z
        order = np.argsort(-np.abs(parts), kind="stable")[:top]
        contributions = [
            Contribution(
                self.features[i], meaning(self.features[i]), round(float(x[0, i]), 4), round(float(parts[i]), 4)
            )
            for i in order
            if parts[i] != 0.0
        ]
        return Prediction(round(float(self.probabilities([job])[0]), 4), contributions)

    def drivers(self, top: int = TOP_FEATURES) -> list[dict[str, Any]]:
        """The features that move the calibrated log-odds most per standard deviation, with the direction."""
        weights = -self.a * np.asarray(self.coef)
        order = np.argsort(-np.abs(weights), kind="stable")[:top]
        return [
            {"feature": self.features[i], "meaning": meaning(self.features[i]), "weight": round(float(weights[i]), 4)}
            for i in order
        ]

    def to_bytes(self) -> bytes:
        return json.dumps({"format": 1, **self.__dict__}, sort_keys=True).encode()

    @staticmethod
    def from_bytes(data: bytes) -> QcModel:
        stored = json.loads(data)
        stored.pop("format", None)
        return QcModel(**stored)


def meaning(feature: str) -> str:
    if feature.startswith("platform="):
        return f"sequenced on {feature.split('=', 1)[1]}"
    if feature.startswith("type="):
        return f"share of {feature.split('=', 1)[1]} samples"
    return MEANING.get(feature, feature)


@dataclass(frozen=True)
class Fitted:
    model: QcModel
    metrics: dict[str, Any]
    data_from: datetime
    data_to: datetime
    rows: int
    notes: list[str] = field(default_factory=list)


def reliability(probabilities: Floats, outcomes: Floats, bins: int = BINS) -> list[dict[str, Any]]:
    """Per probability bin: how many jobs, the mean predicted probability, and the share that passed."""
    table = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        table.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "count": n,
                "mean_predicted": round(float(probabilities[inside].mean()), 4) if n else None,
                "observed_pass_rate": round(float(outcomes[inside].mean()), 4) if n else None,
            }
        )
    return table


def _needs(count: int, minimum: int, why: str) -> None:
    if count < minimum:
        raise NotEnoughDataError(f"needs at least {minimum} finished jobs {why}; the tenant has {count}")


def fit(jobs: Sequence[JobFacts], *, min_jobs: int = MIN_JOBS, seed: int = 0) -> Fitted:
    """Train, calibrate and evaluate on finished jobs (``passed`` set), oldest to newest by ``at``;
    ``NotEnoughDataError`` with too few jobs, or when a slice lacks passes or failures."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    finished = sorted((j for j in jobs if j.passed is not None), key=lambda j: (j.at, j.job_id))
    _needs(len(finished), min_jobs, "(completed or failed) to train a QC model")
    n = len(finished)
    cut1, cut2 = int(n * TRAIN_SHARE), int(n * (TRAIN_SHARE + CALIBRATE_SHARE))
    train, calibrate, test = finished[:cut1], finished[cut1:cut2], finished[cut2:]
    for name, part in (("training", train), ("calibration", calibrate), ("held-out", test)):
        outcomes = {j.passed for j in part}
        if outcomes != {True, False}:
            raise NotEnoughDataError(
                f"the {name} slice of the tenant's history ({len(part)} jobs) holds only "
                f"{'passes' if True in outcomes else 'failures'}: needs at least {min_jobs} finished jobs with "
                "both outcomes spread over time"
            )
    categories = sorted({k for j in train for k in raw_features(j) if "=" in k})
    names = [*NUMERIC, *categories]
    draft = QcModel(names, [0.0] * len(names), [0.0] * len(names), [1.0] * len(names), [], 0.0, -1.0, 0.0)
    rows = np.array([[raw_features(j).get(k, 0.0 if "=" in k else math.nan) for k in names] for j in train])
    medians = [0.0 if np.all(np.isnan(c)) else float(np.nanmedian(c)) for c in rows.T]
    draft = QcModel(names, medians, draft.mean, draft.scale, [], 0.0, -1.0, 0.0)

    def labels(part: Sequence[JobFacts]) -> NDArray[np.int_]:
        return np.array([1 if j.passed else 0 for j in part])

    base = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    base.fit(draft.matrix(train), labels(train))
    calibrated = CalibratedClassifierCV(FrozenEstimator(base), method="sigmoid")
    calibrated.fit(draft.matrix(calibrate), labels(calibrate))
    scaler, regression = base[0], base[1]
    platt = calibrated.calibrated_classifiers_[0].calibrators[0]
    scale = [float(s) if s > 0 else 1.0 for s in scaler.scale_]
    model = QcModel(
        names,
        medians,
        [float(m) for m in scaler.mean_],
        scale,
        [float(c) for c in regression.coef_[0]],
        float(regression.intercept_[0]),
        float(platt.a_),
        float(platt.b_),
    )
    x_test, y_test = model.matrix(test), labels(test)
    ours = model.probabilities(test)
    theirs = calibrated.predict_proba(x_test)[:, 1]
    if not np.allclose(ours, theirs, atol=1e-6):  # the JSON form must predict what scikit-learn would
        raise RuntimeError("the stored QC model does not reproduce scikit-learn's calibrated probabilities")
    prior = float(labels(train).mean())
    metrics = {
        "held_out_jobs": len(test),
        "brier": round(float(brier_score_loss(y_test, ours)), 4),
        "brier_base_rate": round(float(brier_score_loss(y_test, np.full(len(test), prior))), 4),
        "roc_auc": round(float(roc_auc_score(y_test, ours)), 4),
        "reliability": reliability(ours, y_test.astype(np.float64)),
        "class_balance": {
            name: {"jobs": len(part), "passed": int(labels(part).sum()), "failed": int(len(part) - labels(part).sum())}
            for name, part in (("train", train), ("calibration", calibrate), ("held_out", test))
        },
        "split": "by time: oldest 60% train, next 20% calibrate, newest 20% held out",
        "drivers": model.drivers(),
    }
    return Fitted(model, metrics, finished[0].at, finished[-1].at, n)


# -- the tenant's history and models in the database ----------------------------------------------------------

MAX_HISTORY = 20_000  # the newest finished jobs a model is trained on
_CHUNK = 500  # ids per IN (...) list


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _passed(job: SequencingJob, run_qc: dict[str, Any] | None) -> bool | None:
    """A completed job passed unless its run's QC says it did not; a failed one did not; others are unknown."""
    if job.state == "failed":
        return False
    if job.state == "completed":
        return not (isinstance(run_qc, dict) and run_qc.get("passed") is False)
    return None


async def job_facts(session: AsyncSession, tenant_id: str, jobs: Sequence[SequencingJob]) -> list[JobFacts]:
    """Each job's samples with the QC history they had when the job was created (later results are left out:
    the model must see what a prediction would have seen)."""
    ids = [j.id for j in jobs]
    libraries: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for part in _chunks(ids):
        rows = await session.execute(
            select(
                SequencingLibrary.job_id,
                Sample.id,
                SampleType.name,
                Sample.concentration,
                Sample.volume_ul,
                Sample.created_at,
            )
            .join(Sample, Sample.id == SequencingLibrary.sample_id)
            .join(SampleType, SampleType.id == Sample.sample_type_id)
            .where(SequencingLibrary.tenant_id == tenant_id, SequencingLibrary.job_id.in_(part))
            .order_by(SequencingLibrary.job_id, SequencingLibrary.position)
        )
        for row in rows.all():
            libraries[row[0]].append(tuple(row[1:]))
    sample_ids = sorted({row[0] for rows in libraries.values() for row in rows})
    results: dict[str, list[tuple[bool, bool, datetime]]] = defaultdict(list)
    for part in _chunks(sample_ids):
        found = await session.execute(
            select(QcResult.sample_id, QcResult.passed, QcResult.released_signature_id, QcResult.recorded_at).where(
                QcResult.tenant_id == tenant_id, QcResult.sample_id.in_(part)
            )
        )
        for sample_id, passed, released, recorded_at in found.all():
            results[sample_id].append((bool(passed), released is not None, recorded_at))
    run_ids = sorted({j.run_id for j in jobs if j.run_id})
    run_qc: dict[str, dict[str, Any] | None] = {}
    for part in _chunks(run_ids):
        runs = await session.execute(
            select(SequencingRun.id, SequencingRun.qc).where(
                SequencingRun.tenant_id == tenant_id, SequencingRun.id.in_(part)
            )
        )
        run_qc.update((run_id, qc) for run_id, qc in runs.all())
    facts = []
    for job in jobs:
        samples = []
        for sample_id, type_name, concentration, volume, registered in libraries.get(job.id, []):
            before = [r for r in results.get(sample_id, []) if r[2] < job.created_at]
            samples.append(
                SampleFacts(
                    sample_type=type_name,
                    concentration=float(concentration) if concentration is not None else None,
                    volume_ul=float(volume) if volume is not None else None,
                    failed_qc=sum(1 for passed, _, _ in before if not passed),
                    passed_qc=sum(1 for passed, _, _ in before if passed),
                    released=sum(1 for passed, released, _ in before if not passed and released),
                    age_days=max(0.0, (job.created_at - registered).total_seconds() / 86400),
                )
            )
        outcome = _passed(job, run_qc.get(job.run_id) if job.run_id else None)
        facts.append(JobFacts(job.id, job.platform, job.requested_reads, job.created_at, tuple(samples), outcome))
    return facts


def report(row: AiModel) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "version": row.version,
        "algorithm": row.algorithm,
        "trained_at": row.trained_at,
        "data_from": row.data_from,
        "data_to": row.data_to,
        "rows": row.rows,
        "metrics": row.metrics,
        "model_sha256": row.model_sha256,
        "created_by": row.created_by,
    }


class QcModels:
    """Train, list, read and use the tenant's QC models; every query is scoped to the tenant given."""

    def __init__(self, audit: AuditTrail, *, min_jobs: int = MIN_JOBS) -> None:
        self.audit = audit
        self.min_jobs = min_jobs

    async def train(self, session: AsyncSession, principal: Principal, *, reason: str | None = None) -> AiModel:
        tenant_id = principal.tenant_id
        newest = (
            (
                await session.execute(
                    select(SequencingJob)
                    .where(SequencingJob.tenant_id == tenant_id, SequencingJob.state.in_(("completed", "failed")))
                    .order_by(SequencingJob.created_at.desc(), SequencingJob.id)
                    .limit(MAX_HISTORY)
                )
            )
            .scalars()
            .all()
        )
        facts = await job_facts(session, tenant_id, newest)
        fitted = await asyncio.to_thread(fit, facts, min_jobs=self.min_jobs)  # seconds of CPU: off the event loop
        latest = (
            await session.execute(
                select(func.max(AiModel.version)).where(AiModel.tenant_id == tenant_id, AiModel.kind == KIND)
            )
        ).scalar_one()
        data = fitted.model.to_bytes()
        row = AiModel(
            tenant_id=tenant_id,
            kind=KIND,
            version=(latest or 0) + 1,
            algorithm="scikit-learn LogisticRegression, CalibratedClassifierCV (sigmoid); JSON coefficients",
            trained_at=utcnow(),
            data_from=fitted.data_from,
            data_to=fitted.data_to,
            rows=fitted.rows,
            metrics=fitted.metrics,
            model=data,
            model_sha256=hashlib.sha256(data).hexdigest(),
            created_by=principal.label,
        )
        session.add(row)
        await session.flush()
        summary = {"kind": KIND, "version": row.version, "rows": row.rows, "brier": fitted.metrics["brier"]}
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="create",
            record_type="ai_model",
            record_id=row.id,
            reason=reason,
            new=summary,
        )
        return row

    async def page(self, session: AsyncSession, tenant_id: str, *, limit: int, offset: int) -> list[AiModel]:
        query = (
            select(AiModel)
            .where(AiModel.tenant_id == tenant_id)
            .order_by(AiModel.kind, AiModel.version.desc())
            .limit(limit)
            .offset(offset)
        )
        return list((await session.execute(query)).scalars())

    async def get(self, session: AsyncSession, tenant_id: str, model_id: str) -> AiModel:
        row = (
            await session.execute(select(AiModel).where(AiModel.tenant_id == tenant_id, AiModel.id == model_id))
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no model {model_id}")
        return row

    async def predict(self, session: AsyncSession, tenant_id: str, job_id: str) -> tuple[AiModel, Prediction]:
        """The newest QC model's prediction for one of the tenant's jobs."""
        job = (
            await session.execute(
                select(SequencingJob).where(SequencingJob.tenant_id == tenant_id, SequencingJob.id == job_id)
            )
        ).scalar_one_or_none()
        if job is None:
            raise NotFoundError(f"no sequencing job {job_id}")
        row = (
            await session.execute(
                select(AiModel)
                .where(AiModel.tenant_id == tenant_id, AiModel.kind == KIND)
                .order_by(AiModel.version.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotEnoughDataError("no QC model is trained yet: train one with POST /v1/ai/models/qc/train")
        if hashlib.sha256(row.model).hexdigest() != row.model_sha256:
            raise NotEnoughDataError(f"model {row.id} does not match its recorded hash; train a new one")
        facts = (await job_facts(session, tenant_id, [job]))[0]
        return row, QcModel.from_bytes(row.model).predict(facts)
