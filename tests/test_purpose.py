"""One reader of the purpose a request names (core.purpose): pages and the API read it alike and
differ only in how they refuse a purpose that is not one, as each did before."""

import pytest
from django.http import Http404
from django.test import RequestFactory
from rest_framework import serializers
from rest_framework.request import Request

from core.purpose import Purpose, PurposeUnknown, api_purpose, page_purpose, purpose_parse


def test_no_purpose_is_safeguarding_and_a_named_one_is_kept():
    assert purpose_parse(None) == purpose_parse("") == Purpose.SAFEGUARDING
    assert purpose_parse("evaluation") == Purpose.EVALUATION
    with pytest.raises(PurposeUnknown):
        purpose_parse("curiosity")


def test_a_page_answers_404_for_a_purpose_that_is_not_one():
    factory = RequestFactory()
    assert page_purpose(factory.get("/", {"purpose": "commissioning"})) == "commissioning"
    assert page_purpose(factory.get("/")) == "safeguarding"
    with pytest.raises(Http404):
        page_purpose(factory.get("/", {"purpose": "curiosity"}))


def test_the_api_answers_400_saying_which_purposes_there_are():
    factory = RequestFactory()
    assert api_purpose(Request(factory.get("/", {"purpose": "evaluation"}))) == "evaluation"
    assert api_purpose(Request(factory.get("/"))) == "safeguarding"
    with pytest.raises(serializers.ValidationError) as refused:
        api_purpose(Request(factory.get("/", {"purpose": "curiosity"})))
    assert refused.value.detail == {
        "purpose": [
            "Use one of: safeguarding, service_delivery, commissioning, evaluation.",
        ]
    }
