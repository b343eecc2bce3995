from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from studyapp.core.validators import validate_http_base_url


@pytest.mark.parametrize(
    "url",
    [
        "http://gpu-node:8000/v1",
        "https://api.example.org/v1",
        "http://127.0.0.1:8011/v1",
        "http://[::1]:8000/v1",
    ],
)
def test_it_accepts_model_server_base_urls(url):
    validate_http_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://gpu-node/v1",
        "gpu-node:8000/v1",
        "http:///v1",
        "http://gpu-node:99999/v1",
        "http://gpu-node:8000/v1?key=secret",
        "",
    ],
)
def test_it_refuses_anything_else(url):
    with pytest.raises(ValidationError):
        validate_http_base_url(url)
