"""Which prompt words name an embedding, and how the authorizer scopes its policy."""

from __future__ import annotations

import pytest

from lambdas.authorizer import api_key_of, stage_arn
from lambdas.logic.model_resolution import uses_word


@pytest.mark.parametrize(
    ("text", "word", "used"),
    [("easynegative, blurry", "easynegative", True), ("(easynegative:1.2)", "easynegative", True),
     ("easynegative-v2", "easynegative", False), ("myeasynegative", "easynegative", False),
     ("bad_hands_5 here", "bad_hands_5", True), ("a.b", "a.b", True), ("axb", "a.b", False)],
)
def test_an_embedding_is_used_when_its_name_is_a_word(text, word, used):
    assert uses_word(text, word) is used


def test_the_policy_covers_every_route_of_the_stage():
    arn = "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/POST/inferences/x/start"

    assert stage_arn(arn) == "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/*"


def test_the_key_header_is_found_in_any_case():
    assert api_key_of({"headers": {"X-API-KEY": "k"}}) == "k"
    assert api_key_of({"headers": None}) == ""
