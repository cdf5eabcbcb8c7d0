"""Request bodies of the OpenAI API, as much of them as the gateway honours, validated with pydantic.

Unknown fields are ignored (clients send many optional ones); fields the gateway cannot honour with a
different value than the default (``n > 1``, chat ``logprobs``, ``tools``) are refused with a clear 400
rather than silently dropped. ECO's own per-request options travel in ``eco`` (``extra_body`` in the client).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ECOOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    targets: list[str] | None = Field(
        None, description="narrow the active targets to these names (mandatory targets always stay on)"
    )


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict | None = None
    n: int = Field(1, ge=1)
    eco: ECOOptions | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only n=1 is supported")
        return v

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> list[str] | None:
        stops = [v] if isinstance(v, str) else v
        if stops is not None and (len(stops) > 4 or not all(stops)):
            raise ValueError("stop takes up to 4 non-empty strings")
        return stops

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))

    def requested_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict]

    def text(self) -> str:
        """Plain text content; content parts must all be text (no images, no client embeddings)."""
        if isinstance(self.content, str):
            return self.content
        texts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"only text content parts are accepted, got type {part.get('type')!r}")
            texts.append(part["text"])
        return "".join(texts)


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(min_length=1)
    logprobs: bool | None = None
    tools: list | None = None

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, v: bool | None) -> bool | None:
        if v:
            raise ValueError("logprobs are not supported")
        return v

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, v: list | None) -> list | None:
        if v:
            raise ValueError("tools are not supported")
        return v

    def chat_messages(self) -> list[dict[str, str]]:
        return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in self.messages]


MAX_LOGPROBS = 20
"""The most alternatives per position a request may ask for (vLLM's limit; OpenAI's is 5)."""


class CompletionRequest(_Request):
    """A legacy completion. ``prompt`` is text or token ids, one prompt or several.

    With ``echo`` and/or ``logprobs`` it is a *scoring* request, as lm-eval's ``local-completions`` sends
    for log-likelihoods: the log-prob of every prompt token (``echo``) and of the next token, with the
    ``logprobs`` best alternatives at each position. Scoring takes ``max_tokens`` 0 (the prompt only) or 1
    (and the next token) and several prompts at once; generation takes one prompt.
    """

    prompt: str | list[int] | list[str] | list[list[int]]
    max_tokens: int | None = Field(None, ge=0)
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS)
    echo: bool = False
    suffix: str | None = None

    @field_validator("prompt")
    @classmethod
    def _not_empty(cls, v):
        if isinstance(v, list) and (not v or any(isinstance(p, list) and not p for p in v)):
            raise ValueError("the prompt is empty")
        return v

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, v):
        if v:
            raise ValueError("suffix is not supported by this gateway")
        return v

    @model_validator(mode="after")
    def _combination(self) -> CompletionRequest:
        n = self.requested_tokens()
        if self.scoring:
            if self.stream:
                raise ValueError("echo and logprobs cannot be streamed: send stream=false")
            if n is None or n > 1:
                raise ValueError(
                    "with echo or logprobs this gateway scores the prompt and at most the next token: "
                    "send max_tokens 0 or 1 (log-probs of longer generations are not supported)"
                )
        elif n == 0:
            raise ValueError("max_tokens 0 needs echo=true (it returns the prompt's own log-probs)")
        elif len(self.prompts) != 1:
            raise ValueError("exactly one prompt per request is supported for generation (several with echo/logprobs)")
        return self

    @property
    def scoring(self) -> bool:
        return self.echo or self.logprobs is not None

    @property
    def prompts(self) -> list[str | list[int]]:
        """The prompts, each text or token ids."""
        if isinstance(self.prompt, str):
            return [self.prompt]
        if all(isinstance(x, int) for x in self.prompt):
            return [list(self.prompt)]  # type: ignore[arg-type]
        return list(self.prompt)  # type: ignore[arg-type]
