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
    assert r.prompts == ["only one"] and r.requested_tokens() == 7 and r.stop == ["\n"] and not r.scoring
    assert CompletionRequest.model_validate({"model": "m", "prompt": [5, 6, 7], "max_tokens": 2}).prompts == [[5, 6, 7]]
    with pytest.raises(ValidationError, match="exactly one prompt"):
        CompletionRequest.model_validate({"model": "m", "prompt": ["a", "b"]})


def test_scoring_requests_as_lm_eval_sends_them():
    """lm-eval local-completions: token ids (one prompt or a batch), echo, logprobs=1, max_tokens=1."""
    body = {"model": "m", "prompt": [[1, 2, 3], [4, 5]], "echo": True, "logprobs": 1, "max_tokens": 1,
            "temperature": 0, "seed": 1234}  # fmt: skip
    r = CompletionRequest.model_validate(body)
    assert r.scoring and r.prompts == [[1, 2, 3], [4, 5]]
    r = CompletionRequest.model_validate({"model": "m", "prompt": ["a", "b"], "echo": True, "max_tokens": 0})
    assert r.scoring and r.logprobs is None and r.prompts == ["a", "b"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"logprobs": 21, "echo": True, "max_tokens": 1}, "less than or equal to 20"),
        ({"logprobs": -1, "echo": True, "max_tokens": 1}, "greater than or equal to 0"),
        ({"echo": True, "max_tokens": 1, "stream": True}, "cannot be streamed"),
        ({"logprobs": 2, "max_tokens": 1, "stream": True}, "cannot be streamed"),
        ({"echo": True}, "max_tokens 0 or 1"),
        ({"logprobs": 1, "max_tokens": 16}, "max_tokens 0 or 1"),
        ({"max_tokens": 0}, "needs echo"),
        ({"prompt": [], "echo": True, "max_tokens": 0}, "empty"),
        ({"prompt": [[1], []], "echo": True, "max_tokens": 0}, "empty"),
        ({"prompt": [1, "a"], "echo": True, "max_tokens": 0}, "prompt"),
        ({"suffix": "x"}, "suffix"),
    ],
)
def test_bad_scoring_combinations_are_refused(extra, needle):
    with pytest.raises(ValidationError, match=needle):
        CompletionRequest.model_validate({"model": "m", "prompt": "x", **extra})
