from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from studyapp.api.routes import api
from studyapp.core import views as core_views

# The admin signs in through allauth's login, never its own form: its rate limits and the
# second factor apply (a password posted to the admin's form would otherwise open a session
# that skips two-factor authentication everywhere).
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="analysis:study_list"), name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", core_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # Invitations to a study by e-mail (the link, and the page that accepts it).
    path("", include("studyapp.studies.urls_invitations")),
    # The REST API (token-authenticated; schema at /api/openapi.json) and its tokens page.
    path("api/tokens/", include("studyapp.api.urls")),
    path("api/", api.urls),
    # Design files (before the analysis pages, whose <slug>/ patterns would match first).
    path("studies/", include("studyapp.studies.urls")),
    path("endpoints/", include("studyapp.studies.urls_endpoints")),
    path("studies/", include("studyapp.audit.urls")),
    path("studies/", include("studyapp.questionnaires.urls")),
    path("studies/", include("studyapp.analysis.urls")),
    path("studies/", include("studyapp.evaluations.urls")),
    path("", include("studyapp.participation.urls_prolific")),
    # A rubric run's scores beside the raters' labels (loaded by the evaluations pages).
    path("studies/", include("studyapp.ratings.urls_grader")),
    # Raters' pages (/ratings/...) and the investigators' (/studies/<slug>/ratings/...).
    path("", include("studyapp.ratings.urls")),
    path("", include("studyapp.participation.urls")),
    path("", include("studyapp.chat.urls")),
]

# A database that is briefly away answers 503 with a page that retries itself
# (studyapp.core.outage), wherever the error was raised.
handler500 = "studyapp.core.outage.server_error"
