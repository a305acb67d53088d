"""Questions in plain words over the lab's records, turned by rules into a structured filter that is shown to the
person, then run through the same domain code (and permission checks) the API uses.

The rules know the tenant's own words: its project codes, sample type names, storage container names, and the
sample states. "Which plasma samples from project P-17 are in freezer F3?" becomes

    {"resource": "storage_contents", "filters": {"container": "F3", "project": "P-17", "sample_type": "Plasma"}}

No language model is involved: what is not understood is said, with examples, rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.sample_models import Project, Sample, SampleType
from hub.db.storage_models import StorageContainer
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Permission
from hub.domain.samples import SampleFilter, Samples
from hub.domain.storage import Storage
from hub.errors import ValidationFailedError

EXAMPLES = (
    "which samples from project P-17 are in freezer F3?",
    "plasma samples on hold",
    "samples with barcode starting with S-2024",
    "received DNA samples from project P-17",
)
PAGE = 50
MAX_VOCABULARY = 5000  # names of each kind looked up per question
_STATE_WORDS = {s: s.value.replace("_", " ") for s in SampleState}
_CONTAINER_WORDS = r"(?:freezer|fridge|refrigerator|unit|tank|dewar|cabinet|rack|shelf|drawer|tower|box|container)"


class QuestionNotUnderstoodError(ValidationFailedError):
    type_slug = "question-not-understood"


@dataclass(frozen=True)
class Vocabulary:
    """The tenant's names, each to its id."""

    projects: dict[str, str]  # code → id
    sample_types: dict[str, str]  # name → id
    containers: dict[str, str]  # name → id


@dataclass
class Understood:
    resource: str = "samples"
    filters: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


def _word(text: str) -> str:
    return r"(?<![\w-])" + re.escape(text) + r"(?:s|es)?(?![\w-])"


def _find_name(question: str, names: dict[str, str]) -> tuple[str, str] | None:
    """The longest of ``names`` that appears in ``question`` as a word (any case, a plural allowed)."""
    for name in sorted(names, key=len, reverse=True):
        if re.search(_word(name), question, re.IGNORECASE):
            return name, names[name]
    return None


def understand(question: str, vocabulary: Vocabulary) -> Understood:
    """The filter a question asks for; names the lab does not have go to ``unknown``."""
    found = Understood()
    text = " ".join(question.split())
    container = None
    for name in sorted(vocabulary.containers, key=len, reverse=True):
        pattern = rf"\b(?:in|inside|from|at)\s+(?:the\s+)?(?:{_CONTAINER_WORDS}\s+)?{re.escape(name)}(?![\w-])"
        if re.search(pattern, text, re.IGNORECASE):
            container = name
            break
    if container is None and (m := re.search(rf"\bin\s+(?:the\s+)?{_CONTAINER_WORDS}\s+([\w.-]+)", text, re.I)):
        found.unknown.append(f"no storage container named {m[1]!r}")
    if container is not None:
        found.resource = "storage_contents"
        found.filters["container"] = container
        found.ids["container_id"] = vocabulary.containers[container]
    if m := re.search(r"\bproject\s+([\w.-]+)", text, re.IGNORECASE):
        code = next((c for c in vocabulary.projects if c.casefold() == m[1].rstrip(".").casefold()), None)
        if code is None:
            found.unknown.append(f"no project {m[1].rstrip('.')!r}")
    else:
        code = (_find_name(text, vocabulary.projects) or (None, None))[0]
    if code is not None:
        found.filters["project"] = code
        found.ids["project_id"] = vocabulary.projects[code]
    if kind := _find_name(text, vocabulary.sample_types):
        found.filters["sample_type"] = kind[0]
        found.ids["sample_type_id"] = kind[1]
    states = []
    for state, words in _STATE_WORDS.items():
        after = r"(?!\s+in\b)" if state == SampleState.STORED else ""  # "stored in F3" names a place, not a state
        if re.search(rf"(?<![\w-]){re.escape(words)}(?![\w-]){after}", text, re.IGNORECASE):
            states.append(state.value)
    if states and not (found.resource == "storage_contents" and states == ["stored"]):
        found.filters["states"] = states
    if m := re.search(r"\bbarcodes?\s+(?:starting|beginning)\s+with\s+([\w.-]+)", text, re.IGNORECASE):
        found.filters["barcode_prefix"] = m[1]
    if m := re.search(r"\b(?:named|called|name\s+contains)\s+['\"]?([\w .-]{3,100}?)['\"]?(?:[?.!]|$)", text, re.I):
        found.filters["name_contains"] = m[1].strip()
    return found


async def vocabulary(session: AsyncSession, tenant_id: str) -> Vocabulary:
    projects = await session.execute(
        select(Project.code, Project.id).where(Project.tenant_id == tenant_id).limit(MAX_VOCABULARY)
    )
    kinds = await session.execute(
        select(SampleType.name, SampleType.id).where(SampleType.tenant_id == tenant_id).limit(MAX_VOCABULARY)
    )
    containers = await session.execute(
        select(StorageContainer.name, StorageContainer.id)
        .where(StorageContainer.tenant_id == tenant_id)
        .order_by(StorageContainer.path)
        .limit(MAX_VOCABULARY)
    )
    return Vocabulary(
        dict(projects.all()),
        dict(kinds.all()),
        dict(reversed(containers.all())),  # the name nearest the root wins a repeat
    )


@dataclass(frozen=True)
class QueryAnswer:
    question: str
    resource: str
    filters: dict[str, Any]
    api_path: str
    results: list[dict[str, Any]]
    more: bool
    notes: list[str]


def _refuse(question: str, found: Understood, reason: str) -> QuestionNotUnderstoodError:
    return QuestionNotUnderstoodError(
        f"{reason}: {question!r}",
        understood={"resource": found.resource, "filters": found.filters},
        problems=found.unknown,
        examples=list(EXAMPLES),
    )


class Questions:
    def __init__(self, samples: Samples, storage: Storage) -> None:
        self.samples = samples
        self.storage = storage

    async def ask(self, session: AsyncSession, principal: Principal, question: str) -> QueryAnswer:
        found = understand(question, await vocabulary(session, principal.tenant_id))
        if found.unknown:
            raise _refuse(question, found, "; ".join(found.unknown))
        if not found.filters:
            raise _refuse(question, found, "no project, sample type, state, container or barcode recognised")
        principal.require(Permission.SAMPLES_READ)
        if found.resource == "storage_contents":
            principal.require(Permission.STORAGE_READ)
            return await self._contents(session, principal, question, found)
        where = SampleFilter(
            states=tuple(SampleState(s) for s in found.filters.get("states", ())),
            project_id=found.ids.get("project_id"),
            sample_type_id=found.ids.get("sample_type_id"),
            barcode_prefix=found.filters.get("barcode_prefix"),
            name_contains=found.filters.get("name_contains"),
        )
        page = await self.samples.page(session, principal.tenant_id, where, limit=PAGE)
        params: list[tuple[str, str]] = [("state", s) for s in found.filters.get("states", ())]
        params += [(k, found.ids[k]) for k in ("project_id", "sample_type_id") if k in found.ids]
        params += [(k, found.filters[k]) for k in ("barcode_prefix",) if k in found.filters]
        if "name_contains" in found.filters:
            params.append(("q", found.filters["name_contains"]))
        results = [
            {
                "id": s.id,
                "barcode": s.barcode,
                "name": s.name,
                "state": s.state,
                "sample_type_id": s.sample_type_id,
                "project_id": s.project_id,
            }
            for s in page.samples
        ]
        path = "/v1/samples" + (f"?{urlencode(params)}" if params else "")
        return QueryAnswer(question, found.resource, found.filters, path, results, page.next_cursor is not None, [])

    async def _contents(
        self, session: AsyncSession, principal: Principal, question: str, found: Understood
    ) -> QueryAnswer:
        container_id = found.ids["container_id"]
        _, total, rows = await self.storage.contents(session, principal.tenant_id, container_id, limit=1000)
        wanted_states = set(found.filters.get("states", ()))
        wanted_type = found.filters.get("sample_type")
        if wanted_states:
            rows = [r for r in rows if r.state in wanted_states]
        if wanted_type:
            rows = [r for r in rows if r.sample_type == wanted_type]
        if "barcode_prefix" in found.filters:
            rows = [r for r in rows if r.barcode.startswith(found.filters["barcode_prefix"])]
        if "name_contains" in found.filters:
            rows = [r for r in rows if found.filters["name_contains"].casefold() in r.name.casefold()]
        if "project_id" in found.ids and rows:
            in_project = await session.execute(
                select(Sample.id).where(
                    Sample.tenant_id == principal.tenant_id,
                    Sample.project_id == found.ids["project_id"],
                    Sample.id.in_([r.sample_id for r in rows]),
                )
            )
            keep = set(in_project.scalars())
            rows = [r for r in rows if r.sample_id in keep]
        notes = []
        if total > 1000:
            notes.append(f"the container holds {total} samples; the first 1000 in box order were filtered")
        if set(found.filters) - {"container"}:
            notes.append("the contents path lists the whole container; the other filters were applied to it")
        results = [
            {
                "id": r.sample_id,
                "barcode": r.barcode,
                "name": r.name,
                "state": r.state,
                "sample_type": r.sample_type,
                "unit": r.unit_name,
                "box": r.box_name,
                "position": r.position,
            }
            for r in rows
        ]
        path = f"/v1/storage/containers/{container_id}/contents"
        return QueryAnswer(question, found.resource, found.filters, path, results[:PAGE], len(results) > PAGE, notes)
