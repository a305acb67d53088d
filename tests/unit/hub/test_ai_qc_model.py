"""The QC model on a seeded synthetic history whose pass probability is known: calibrated (Brier below a floor and
below the base rate, a reliability table that rises with the prediction), discriminating (ROC AUC), explained by
the true drivers, stored as JSON that predicts what scikit-learn predicts, and refused with too little history."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from hub.ai.errors import NotEnoughDataError
from hub.ai.qc_model import MIN_JOBS, JobFacts, QcModel, SampleFacts, fit

START = datetime(2025, 1, 1, tzinfo=UTC)
PLATFORMS = ("novaseq_x", "nextseq_2000", "nanopore")
TRUE_DRIVERS = {"min_concentration", "failed_qc_share", "platform=nanopore"}


def true_probability(min_concentration: float, failed_share: float, platform: str) -> float:
    """The ground truth: low concentration, earlier failed QC and Nanopore make a failed run likelier."""
    logit = -1.2 + 0.15 * min_concentration - 3.0 * failed_share - 1.3 * (platform == "nanopore")
    return 1.0 / (1.0 + math.exp(-logit))


def synthetic_history(n: int, seed: int = 7, start: datetime = START) -> list[JobFacts]:
    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(n):
        platform = str(rng.choice(PLATFORMS))
        samples = []
        for _ in range(int(rng.integers(1, 7))):
            concentration = float(np.round(rng.lognormal(math.log(18), 0.55), 2))
            samples.append(
                SampleFacts(
                    sample_type=str(rng.choice(["DNA", "RNA"])),
                    concentration=None if rng.random() < 0.05 else concentration,
                    volume_ul=float(np.round(rng.uniform(10, 100), 1)),
                    failed_qc=int(rng.random() < 0.2),
                    passed_qc=int(rng.integers(0, 3)),
                    released=0,
                    age_days=float(rng.uniform(0, 120)),
                )
            )
        known = [s.concentration for s in samples if s.concentration is not None] or [18.0]
        failed = sum(1 for s in samples if s.failed_qc) / len(samples)
        p = true_probability(min(known), failed, platform)
        jobs.append(
            JobFacts(
                job_id=f"job-{i:05d}",
                platform=platform,
                requested_reads=int(rng.integers(1, 50)) * 1_000_000,
                at=start + timedelta(hours=i),
                samples=tuple(samples),
                passed=bool(rng.random() < p),
            )
        )
    return jobs


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    return fit(synthetic_history(1500))


def _oracle_brier(jobs: list[JobFacts]) -> float:
    """The Brier score of the true probabilities: the floor no model can beat on these jobs."""
    errors = []
    for j in jobs:
        known = [s.concentration for s in j.samples if s.concentration is not None] or [18.0]
        failed = sum(1 for s in j.samples if s.failed_qc) / len(j.samples)
        errors.append((true_probability(min(known), failed, j.platform) - float(bool(j.passed))) ** 2)
    return float(np.mean(errors))


def test_held_out_brier_is_near_the_oracle_and_beats_the_base_rate(fitted) -> None:  # type: ignore[no-untyped-def]
    metrics = fitted.metrics
    assert metrics["held_out_jobs"] == 300
    oracle = _oracle_brier(synthetic_history(1500)[1200:])
    assert metrics["brier"] < 0.2
    assert metrics["brier"] < oracle + 0.02
    assert metrics["brier"] < metrics["brier_base_rate"] - 0.03
    assert metrics["roc_auc"] > 0.74


def test_the_reliability_table_rises_with_the_prediction(fitted) -> None:  # type: ignore[no-untyped-def]
    table = [b for b in fitted.metrics["reliability"] if b["count"] >= 15]
    assert len(table) >= 4
    observed = [b["observed_pass_rate"] for b in table]
    assert all(later >= earlier - 0.15 for earlier, later in itertools.pairwise(observed))
    for b in table:
        assert abs(b["observed_pass_rate"] - b["mean_predicted"]) < 0.2


def test_the_top_features_are_the_true_drivers(fitted) -> None:  # type: ignore[no-untyped-def]
    top = {d["feature"] for d in fitted.metrics["drivers"][:4]}
    assert {"failed_qc_share", "platform=nanopore"} <= top
    assert top & {"min_concentration", "mean_concentration"}
    weights = {d["feature"]: d["weight"] for d in fitted.metrics["drivers"]}
    assert weights["failed_qc_share"] < 0 < weights.get("min_concentration", weights.get("mean_concentration", 0))


def test_a_prediction_explains_itself_and_the_json_form_round_trips(fitted) -> None:  # type: ignore[no-untyped-def]
    model = QcModel.from_bytes(fitted.model.to_bytes())
    weak = JobFacts(
        "weak",
        "nanopore",
        10_000_000,
        START,
        (SampleFacts("DNA", 3.0, 20.0, 1, 0, 0, 10.0),),
    )
    strong = JobFacts("strong", "novaseq_x", 10_000_000, START, (SampleFacts("DNA", 40.0, 50.0, 0, 2, 0, 10.0),))
    low, high = model.predict(weak), model.predict(strong)
    assert low.probability < 0.2 < 0.8 < high.probability
    assert {c.feature for c in low.contributions[:3]} & TRUE_DRIVERS
    assert all(c.contribution < 0 for c in low.contributions if c.feature in TRUE_DRIVERS)
    assert fitted.data_from == START
    assert fitted.rows == 1500
    assert fitted.metrics["class_balance"]["held_out"]["jobs"] == 300


def test_too_little_history_is_refused_with_the_number_needed() -> None:
    with pytest.raises(NotEnoughDataError, match=f"needs at least {MIN_JOBS} finished jobs"):
        fit(synthetic_history(MIN_JOBS - 1))
    passing = [JobFacts(j.job_id, j.platform, j.requested_reads, j.at, j.samples, True) for j in synthetic_history(60)]
    with pytest.raises(NotEnoughDataError, match="only passes"):
        fit(passing)
