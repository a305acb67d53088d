"""Request and answer shapes shared by the sample routes (samples, lineage, custody, QC).

Text that people type is cleaned on the way in (``cells.clean_text``: no control, zero-width or bidirectional
characters); volumes and concentrations are decimals, sent back as strings so no digit is lost to a float.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, Field

from hub.db.sample_models import Sample
from hub.domain.cells import clean_text
from hub.domain.lifecycle import SampleState, allowed_moves


def _cleaned(min_length: int) -> Callable[[str], str]:
    def clean(value: str) -> str:
        value = clean_text(value)
        if len(value) < min_length:
            raise ValueError(f"needs at least {min_length} visible character(s)")
        return value

    return clean


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_cleaned(1))]
ShortText = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_cleaned(1))]
Reason = Annotated[
    str,
    Field(min_length=3, max_length=1000, description="why (kept in the audit trail)"),
    AfterValidator(_cleaned(3)),
]
Note = Annotated[str, Field(max_length=1000), AfterValidator(_cleaned(0))]
Description = Annotated[str, Field(max_length=2000), AfterValidator(_cleaned(0))]
Measurement = Annotated[str, Field(max_length=64), AfterValidator(_cleaned(0))]
Unit = Annotated[str, Field(max_length=32), AfterValidator(_cleaned(0))]
RecordId = Annotated[str, Field(min_length=1, max_length=64)]
Barcode = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,63}$", description="letters, digits and . _ : / + -"),
]
Username = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
Volume = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=3, description="microlitres")]
Concentration = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
AttributeValue = (
    Annotated[str, Field(max_length=1000), AfterValidator(_cleaned(0))]
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)
Attributes = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_cleaned(1))], AttributeValue],
    Field(max_length=100, description="free fields (an intake template's), at most 100"),
]

SampleIdPath = Annotated[str, Path(min_length=1, max_length=64)]


class SamplePublic(BaseModel):
    id: str
    barcode: str
    name: str
    sample_type_id: str
    project_id: str | None
    state: SampleState
    held_from: SampleState | None
    allowed_moves: list[SampleState] = Field(description="the states the sample may move to next")
    volume_ul: Decimal | None
    concentration: Decimal | None
    custodian: str
    qc_status: str | None
    attributes: dict[str, Any]
    intake_upload_id: str | None
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, sample: Sample) -> SamplePublic:
        state = SampleState(sample.state)
        held_from = SampleState(sample.held_from) if sample.held_from else None
        return cls(
            id=sample.id,
            barcode=sample.barcode,
            name=sample.name,
            sample_type_id=sample.sample_type_id,
            project_id=sample.project_id,
            state=state,
            held_from=held_from,
            allowed_moves=sorted(allowed_moves(state, held_from)),
            volume_ul=volume(sample.volume_ul),
            concentration=concentration(sample.concentration),
            custodian=sample.custodian,
            qc_status=sample.qc_status,
            attributes=dict(sample.attributes),
            intake_upload_id=sample.intake_upload_id,
            version=sample.version,
            created_by=sample.created_by,
            created_at=sample.created_at,
            updated_at=sample.updated_at,
        )


def _scale(places: int) -> Callable[[Decimal | None], Decimal | None]:
    step = Decimal(1).scaleb(-places)

    def quantize(value: Decimal | None) -> Decimal | None:
        return value.quantize(step) if value is not None else None

    return quantize


# as the database stores them, whether the value was just sent or read back: 12.5 µl is "12.500" either way
volume = _scale(3)
concentration = _scale(4)


def etag(sample: Sample) -> str:
    return f'"{sample.version}"'
