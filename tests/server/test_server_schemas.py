"""Request validation: what the gateway honours, and what it refuses instead of silently dropping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eco_unlearn.server.schemas import ChatRequest, CompletionRequest


def test_chat_text_parts_are_joined_and_developer_is_system():
    r = ChatRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "b"}]},
            ],
            "unknown_field": 1,
        }
    )
    assert r.chat_messages() == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a b"}]


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2},
        {"logprobs": True},
        {"tools": [{"type": "function"}]},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"stop": [""]},
        {"top_p": 0},
        {"eco": {"targets": ["a"], "disable": True}},
    ],
)
def test_unsupported_options_are_refused(extra):
    with pytest.raises(ValidationError):
        ChatRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})


def test_completion_prompt_forms_and_max_tokens():
    r = CompletionRequest.model_validate(
        {"model": "m", "prompt": ["only one"], "max_completion_tokens": 7, "stop": "\n"}
    )
    assert r.prompt == "only one" and r.requested_tokens() == 7 and r.stop == ["\n"]
    with pytest.raises(ValidationError, match="exactly one prompt"):
        CompletionRequest.model_validate({"model": "m", "prompt": ["a", "b"]})
    with pytest.raises(ValidationError):
        CompletionRequest.model_validate({"model": "m", "prompt": "x", "echo": True})
