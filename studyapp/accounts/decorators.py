from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django_htmx.http import HttpResponseClientRedirect

from studyapp.core.http import HtmxHttpRequest


def login_required_htmx(view: Callable) -> Callable:
    """login_required that sends an htmx request's whole page to the login form, rather
    than swapping the login page into a fragment (a polled table, a filtered result)."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                page = request.htmx.current_url_abs_path or request.get_full_path()
                return HttpResponseClientRedirect(redirect_to_login(page).url)
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper
