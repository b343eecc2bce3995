"""Who may see which study. Every investigator page goes through here; what each role
may do is studyapp.studies.roles (django-rules predicates)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from studyapp.accounts.mfa import MFARequired, mfa_missing_for
from studyapp.studies import roles
from studyapp.studies.models import ModelEndpoint, Study


def study_get_for_user_or_404(user, slug: str, perm: str = roles.CHANGE_STUDY) -> Study:
    """The study with this slug if `user` holds `perm` in it (studies.roles); 404
    otherwise.

    Without `perm`, the study's owners and collaborators (and superusers) only: a view
    that does not say what it needs fails closed for the read-only roles, while every
    former investigator (now an owner) still reaches it. Name the permission.

    A study the user may not use this way answers exactly like one that does not exist,
    so its slug cannot be probed. One query: the user's role comes with the study, and
    the checks that follow on it (`user.has_perm(..., study)`) read it from there.

    A study that requires two-factor authentication (Study.require_mfa) raises
    accounts.mfa.MFARequired, a page saying so, to a user allowed in who sees its
    participant-level data without having set it up (one more query, for such studies).
    """
    if not user.is_authenticated:
        raise Http404("No such study")
    study = Study.objects.with_member_role(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study")
    study._member_role_user = user.pk
    if not user.has_perm(perm, study):
        raise Http404("No such study")
    if mfa_missing_for(user, study):
        raise MFARequired(study)
    return study


def user_sees_blinded(user, study: Study) -> bool:
    """Whether results must be shown to `user` in the blinded form only (a blinded
    analyst: arms by letter, no model, no blinding terms)."""
    return not user.has_perm(roles.VIEW_UNBLINDED, study)


def endpoints_visible_to(user) -> QuerySet[ModelEndpoint]:
    """Model endpoints a user may see and choose: those they own (made on the endpoints
    page) and those the arms of the studies they may change use; every endpoint for
    superusers.

    An endpoint holds another team's server address and names its key: an investigator
    picking it would spend that team's quota (and see its model) from their own study.
    """
    if not user.is_authenticated:
        return ModelEndpoint.objects.none()
    if user.is_superuser:
        return ModelEndpoint.objects.all()
    used = ModelEndpoint.objects.filter(
        arms__study__in=Study.objects.visible_to(user, roles.CHANGE_STUDY)
    )
    return ModelEndpoint.objects.filter(Q(owner=user) | Q(pk__in=used.values("pk")))


def endpoint_may_edit(user, endpoint: ModelEndpoint) -> bool:
    """Its owner and superusers: an endpoint a study uses is seen by that study's team, but
    changing its URL or key variable would redirect another team's key and chats."""
    return user.is_authenticated and (user.is_superuser or endpoint.owner_id == user.pk)


def endpoint_get_for_user_or_404(user, endpoint_id: int) -> ModelEndpoint:
    """The endpoint if `user` may see it (endpoints_visible_to); 404 otherwise, exactly as
    for one that does not exist."""
    endpoint = endpoints_visible_to(user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("No such endpoint")
    return endpoint


# --- Raters (studyapp.ratings): a per-study role kept by the ratings app; studies.roles
# reads it through the reverse relation `raters`, so accounts does not import ratings.


def study_get_for_rater_or_404(user, slug: str) -> Study:
    """The study if `user` is an active rater of it who may rate; 404 otherwise (a
    study the user does not rate answers as one that does not exist). Superusers too: a
    rater's queue is theirs alone (the pages read the user's StudyRater)."""
    study = Study.objects.filter(slug=slug).first() if user.is_authenticated else None
    if study is None or not roles.is_rater(user, study):
        raise Http404("No such study")
    if mfa_missing_for(user, study, rater=True):
        raise MFARequired(study)
    return study


def user_may_adjudicate(user, study: Study) -> bool:
    """Owners and collaborators of the study (and superusers), and its active raters who
    may adjudicate."""
    return user.is_authenticated and user.has_perm(roles.ADJUDICATE, study)


def study_get_for_adjudicator_or_404(user, slug: str) -> Study:
    """The study if `user` may adjudicate its ratings; 404 otherwise."""
    return study_get_for_user_or_404(user, slug, roles.ADJUDICATE)


def study_perms(user, study: Study) -> dict[str, bool]:
    """What `user` may do in the study, for templates that show only the links that
    lead somewhere: {"change_study": True, "view_audit": False, ...} (studies.roles)."""
    return {
        perm.split(".", 1)[1]: user.has_perm(perm, study)
        for perm in roles.ROLES
        if perm.startswith("studies.")
    }
