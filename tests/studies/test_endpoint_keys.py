"""An endpoint names the variable holding its API key; only model-key variables qualify."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from studyapp.chat.llm import EndpointConfig
from tests.factories import make_endpoint, make_user

pytestmark = pytest.mark.django_db
SECRET = "the-django-secret-that-must-stay-here"


def test_an_endpoint_may_name_a_model_key_variable(monkeypatch):
    monkeypatch.setenv("STUDYAPP_LLM_KEY_VLLM", "sk-vllm")
    endpoint = make_endpoint(api_key_env="STUDYAPP_LLM_KEY_VLLM")
    endpoint.full_clean()
    assert endpoint.api_key() == "sk-vllm"


@pytest.mark.parametrize("name", ["DJANGO_SECRET_KEY", "DATABASE_URL", "STUDYAPP_LLM_KEY_"])
def test_an_endpoint_may_not_name_any_other_variable(name):
    endpoint = make_endpoint(api_key_env=name)
    with pytest.raises(ValidationError) as error:
        endpoint.full_clean()
    assert "STUDYAPP_LLM_KEY_" in str(error.value.message_dict["api_key_env"])


def test_the_prefix_is_a_setting(settings, monkeypatch):
    settings.LLM_API_KEY_ENV_PREFIX = "LAB_KEY_"
    monkeypatch.setenv("LAB_KEY_GPU", "sk-gpu")
    endpoint = make_endpoint(api_key_env="LAB_KEY_GPU")
    endpoint.full_clean()
    assert endpoint.api_key() == "sk-gpu"


def test_an_old_row_naming_another_variable_sends_no_key(monkeypatch, caplog):
    monkeypatch.setenv("DJANGO_SECRET_KEY", SECRET)
    # Saved before the rule (or without full_clean): the key read refuses it too.
    endpoint = make_endpoint(api_key_env="DJANGO_SECRET_KEY")
    with caplog.at_level(logging.WARNING, logger="studyapp.studies.models"):
        config = EndpointConfig.from_endpoint(endpoint)
    assert config.api_key == "EMPTY"
    assert "DJANGO_SECRET_KEY" in caplog.text and "no key sent" in caplog.text
    assert SECRET not in caplog.text


def test_the_admin_refuses_another_variable(client):
    client.force_login(make_user("root", superuser=True))
    response = client.post(
        reverse("admin:studies_modelendpoint_add"),
        {
            "name": "stolen",
            "base_url": "http://attacker.example/v1",
            "model": "m",
            "api_key_env": "DJANGO_SECRET_KEY",
            "timeout_s": 30,
            "max_concurrent_streams": 8,
            "evaluation_concurrency": 2,
        },
    )
    assert response.status_code == 200
    assert "api_key_env" in response.context["adminform"].form.errors
