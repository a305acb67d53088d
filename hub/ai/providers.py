"""Optional language models behind one interface, off by default: an OpenAI-compatible server (vLLM, llama.cpp,
LM Studio, OpenAI itself), Anthropic, or Ollama, over httpx with a timeout and a circuit breaker. Whatever they
return goes through the same citation validation as the extractive answer (``answering.statements_from_model``).

A provider sees only the question and the passages already retrieved for the caller's tenant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from hub.ai.answering import NOT_FOUND, Answer, statements_from_model
from hub.ai.errors import ProviderUnavailableError
from hub.ai.ranking import Hit

logger = logging.getLogger(__name__)

ProviderKind = Literal["openai", "anthropic", "ollama"]

SYSTEM = (
    "You answer questions for a genomics laboratory using ONLY the numbered passages given. End every sentence "
    "with the number of the passage it comes from, in square brackets, like [2]. If the passages do not hold the "
    f"answer, reply exactly: {NOT_FOUND}"
)


class LanguageModel(Protocol):
    name: str

    async def complete(self, system: str, prompt: str) -> str: ...


@dataclass(frozen=True)
class ProviderConfig:
    kind: ProviderKind
    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 20.0
    max_tokens: int = 400


class HttpLanguageModel:
    """One provider over httpx; ``client`` is the transport seam (tests pass ``httpx.MockTransport``)."""

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.name = f"{config.kind}:{config.model}"
        self._client = client or httpx.AsyncClient(timeout=config.timeout_s)

    def _request(self, system: str, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        c = self.config
        base = c.base_url.rstrip("/")
        headers = {"content-type": "application/json"}
        if c.kind == "anthropic":
            headers |= {"x-api-key": c.api_key or "", "anthropic-version": "2023-06-01"}
            body: dict[str, Any] = {
                "model": c.model,
                "max_tokens": c.max_tokens,
                "system": system,
                "messages": [{"role": "user", "content": prompt}],
            }
            return f"{base}/v1/messages", headers, body
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        if c.kind == "ollama":
            return f"{base}/api/chat", headers, {"model": c.model, "messages": messages, "stream": False}
        if c.api_key:
            headers["authorization"] = f"Bearer {c.api_key}"
        body = {"model": c.model, "messages": messages, "max_tokens": c.max_tokens, "temperature": 0}
        return f"{base}/v1/chat/completions", headers, body

    async def complete(self, system: str, prompt: str) -> str:
        url, headers, body = self._request(system, prompt)
        try:
            response = await self._client.post(url, headers=headers, json=body, timeout=self.config.timeout_s)
            response.raise_for_status()
            data = response.json()
            if self.config.kind == "anthropic":
                return "".join(part.get("text", "") for part in data["content"] if part.get("type") == "text")
            if self.config.kind == "ollama":
                return str(data["message"]["content"])
            return str(data["choices"][0]["message"]["content"])
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderUnavailableError(f"{self.name}: an answer in an unexpected shape ({exc})") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


class CircuitBreaker:
    """Open after ``threshold`` failures in a row; one trial call after ``reset_s``. Logged once when it opens and
    once when it closes again."""

    def __init__(self, threshold: int = 3, reset_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.reset_s, self.clock = threshold, reset_s, clock
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        return self.opened_at is None or self.clock() - self.opened_at >= self.reset_s

    def success(self) -> None:
        if self.opened_at is not None:
            logger.info("language model answers again: circuit closed")
        self.failures, self.opened_at = 0, None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            if self.opened_at is None:
                logger.error("language model failed %d times in a row: circuit open", self.failures)
            self.opened_at = self.clock()


def prompt_for(question: str, hits: Sequence[Hit]) -> str:
    numbered = "\n\n".join(
        f"[{n}] ({h.passage.document_name} — {h.passage.section or 'start'})\n{h.passage.text}"
        for n, h in enumerate(hits, start=1)
    )
    return f"Passages:\n\n{numbered}\n\nQuestion: {question}"


class GenerativeAnswerer:
    """Asks the model with the retrieved passages; keeps only validated, cited statements. Any failure (breaker
    open, timeout, nothing valid) returns ``fallback`` (the extractive answer) with a note saying why."""

    def __init__(self, model: LanguageModel, breaker: CircuitBreaker | None = None) -> None:
        self.model = model
        self.breaker = breaker or CircuitBreaker()

    async def answer(self, question: str, fallback: Answer) -> Answer:
        if not fallback.found:
            return fallback  # below the threshold the documents do not hold it: a model would only guess
        if not self.breaker.allow():
            return _with_note(fallback, f"{self.model.name} is paused after repeated failures")
        try:
            text = await self.model.complete(SYSTEM, prompt_for(question, fallback.passages))
        except ProviderUnavailableError as exc:
            self.breaker.failure()
            return _with_note(fallback, str(exc))
        self.breaker.success()
        if text.strip().startswith(NOT_FOUND.rstrip(".")):
            return Answer(False, NOT_FOUND, [], fallback.passages, fallback.confidence, self.model.name)
        statements, notes = statements_from_model(text, fallback.passages)
        if not statements:
            return _with_note(fallback, f"{self.model.name} gave no statement with a valid citation", *notes)
        return Answer(
            True,
            " ".join(s.text for s in statements),
            statements,
            fallback.passages,
            fallback.confidence,
            self.model.name,
            notes,
        )


def _with_note(answer: Answer, *notes: str) -> Answer:
    return Answer(
        answer.found,
        answer.text,
        answer.statements,
        answer.passages,
        answer.confidence,
        answer.method,
        [*answer.notes, *notes],
    )
