"""Who may see which study. Every investigator page goes through here."""

from __future__ import annotations

from django.http import Http404

from studyapp.studies.models import Study


def study_get_for_user_or_404(user, slug: str) -> Study:
    """The study with this slug if `user` may see it; 404 otherwise.

    A study the user may not see answers exactly like one that does not exist, so its
    slug cannot be probed.
    """
    study = Study.objects.visible_to(user).filter(slug=slug).first()
    if study is None:
        raise Http404("No such study")
    return study
