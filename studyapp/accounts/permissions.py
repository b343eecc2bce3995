"""Who may see which study. Every investigator page goes through here."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from studyapp.studies.models import ModelEndpoint, Study


def study_get_for_user_or_404(user, slug: str) -> Study:
    """The study with this slug if `user` may see it; 404 otherwise.

    A study the user may not see answers exactly like one that does not exist, so its
    slug cannot be probed.
    """
    study = Study.objects.visible_to(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study")
    return study


def endpoints_visible_to(user) -> QuerySet[ModelEndpoint]:
    """Model endpoints a user may see and choose: those the arms of their studies use;
    every endpoint for superusers, who alone create them.

    An endpoint holds another team's server address and names its key: an investigator
    picking it would spend that team's quota (and see its model) from their own study.
    """
    if not user.is_authenticated:
        return ModelEndpoint.objects.none()
    if user.is_superuser:
        return ModelEndpoint.objects.all()
    used = ModelEndpoint.objects.filter(arms__study__in=Study.objects.visible_to(user))
    return ModelEndpoint.objects.filter(pk__in=used.values("pk"))


# --- Raters (studyapp.ratings): a per-study role, apart from investigators. These look
# through the reverse relation `raters`, so accounts does not import the ratings app.


def study_get_for_rater_or_404(user, slug: str) -> Study:
    """The study if `user` is an active rater of it who may rate; 404 otherwise (a
    study the user does not rate answers as one that does not exist)."""
    if not user.is_authenticated:
        raise Http404("No such study")
    study = (
        Study.objects.filter(
            slug=slug, raters__user=user, raters__is_active=True, raters__can_rate=True
        )
        .distinct()
        .first()
    )
    if study is None:
        raise Http404("No such study")
    return study


def user_may_adjudicate(user, study: Study) -> bool:
    """Investigators of the study (and superusers), and its active raters who may
    adjudicate."""
    if not user.is_authenticated:
        return False
    if Study.objects.visible_to(user).filter(pk=study.pk).exists():
        return True
    return study.raters.filter(user=user, is_active=True, can_adjudicate=True).exists()


def study_get_for_adjudicator_or_404(user, slug: str) -> Study:
    """The study if `user` may adjudicate its ratings; 404 otherwise."""
    study = Study.objects.filter(slug=slug).first()
    if study is None or not user_may_adjudicate(user, study):
        raise Http404("No such study")
    return study
