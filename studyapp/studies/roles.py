"""Roles per study and what each may do: the permission vocabulary, in one place.

A user's role in a study is a `StudyMembership` (owner, collaborator, analyst, blinded
analyst, auditor), or a `ratings.StudyRater` (rater, and adjudicator where the rater may
adjudicate): raters are kept where the ratings app keeps them, not copied here.
Superusers may do everything (Django's ModelBackend answers True for them).

The permissions are django-rules predicates (`rules.add_perm`), so a view asks
`user.has_perm(VIEW_RESULTS, study)` and the answer comes from the table below; a
queryset of studies asks `roles_with(VIEW_RESULTS)`, which reads the same table.
`URL_ACCESS` declares the rule of every URL of the project; tests/accounts/
test_url_access.py walks the URL resolver and requests each one as every role.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import rules
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    COLLABORATOR = "collaborator", "Collaborator"
    ANALYST = "analyst", "Analyst"
    BLINDED_ANALYST = "blinded_analyst", "Blinded analyst"
    AUDITOR = "auditor", "Auditor"


# --- The permissions (Django's "app_label.codename" form; none is a database row).
VIEW_STUDY = "studies.view_study"  # the study exists for them: study list, plan, power
CHANGE_STUDY = "studies.change_study"  # design and run: plan, evaluations, Prolific, raters
MANAGE_MEMBERS = "studies.manage_members"  # grant and revoke roles
VIEW_RESULTS = "studies.view_results"  # dashboard, transcripts, exports (maybe blinded)
VIEW_UNBLINDED = "studies.view_unblinded"  # arms by name and model, wherever results are
VIEW_DESIGN = "studies.view_design"  # what names the arms' models: design file, evaluations
RELEASE_IDENTIFIERS = "studies.release_identifiers"  # raw Prolific ids in exports
REVEAL_INFERENCE = "studies.reveal_inference"  # an interim look at a live study's tests
VIEW_AUDIT = "studies.view_audit"  # the audit trail
CORRECT_SCORES = "studies.correct_scores"  # correct an answer's score, with a reason
RATE = "ratings.rate"  # the items dealt to the rater, blinded to arm
ADJUDICATE = "ratings.adjudicate"  # settle raters' disagreements

_OWN, _COL, _ANA, _BLI, _AUD = (
    Role.OWNER,
    Role.COLLABORATOR,
    Role.ANALYST,
    Role.BLINDED_ANALYST,
    Role.AUDITOR,
)

# Which membership roles hold each permission. Auditors read everything a study shows
# (unblinded) and change nothing; blinded analysts see results only in the blinded form.
ROLES: dict[str, frozenset[str]] = {
    VIEW_STUDY: frozenset({_OWN, _COL, _ANA, _BLI, _AUD}),
    CHANGE_STUDY: frozenset({_OWN, _COL}),
    MANAGE_MEMBERS: frozenset({_OWN}),
    VIEW_RESULTS: frozenset({_OWN, _COL, _ANA, _BLI, _AUD}),
    VIEW_UNBLINDED: frozenset({_OWN, _COL, _ANA, _AUD}),
    VIEW_DESIGN: frozenset({_OWN, _COL, _ANA, _AUD}),
    RELEASE_IDENTIFIERS: frozenset({_OWN, _COL, _ANA}),
    REVEAL_INFERENCE: frozenset({_OWN, _COL, _ANA}),
    VIEW_AUDIT: frozenset({_OWN, _COL, _AUD}),
    # Blinded analysts too: the transcript they correct from shows no arm (they judge the
    # answer, not the arm); auditors change nothing. Raters label in the ratings app.
    CORRECT_SCORES: frozenset({_OWN, _COL, _ANA, _BLI}),
    RATE: frozenset(),  # raters are ratings.StudyRater, not members
    ADJUDICATE: frozenset({_OWN, _COL}),  # and raters who may adjudicate
}


def roles_with(perm: str) -> frozenset[str]:
    """The membership roles that hold `perm` (KeyError for a permission not declared)."""
    return ROLES[perm]


# --- Predicates. A study fetched by accounts.permissions carries the user's role
# (`_member_role` for `_member_role_user`), so a view's checks cost no query.

_UNSET = object()


def member_role(user, study) -> str | None:
    """The user's membership role in the study, or None."""
    if study is None or not getattr(user, "is_authenticated", False):
        return None
    if getattr(study, "_member_role_user", _UNSET) == user.pk:
        return study._member_role
    role = study.memberships.filter(user=user).values_list("role", flat=True).first()
    study._member_role, study._member_role_user = role, user.pk
    return role


@rules.predicate
def is_rater(user, study) -> bool:
    if study is None or not getattr(user, "is_authenticated", False):
        return False
    return study.raters.filter(user=user, is_active=True, can_rate=True).exists()


@rules.predicate
def is_adjudicating_rater(user, study) -> bool:
    if study is None or not getattr(user, "is_authenticated", False):
        return False
    return study.raters.filter(user=user, is_active=True, can_adjudicate=True).exists()


def has_role(*roles: str) -> rules.Predicate:
    allowed = frozenset(roles)

    def check(user, study) -> bool:
        return member_role(user, study) in allowed

    return rules.Predicate(check, name=f"has_role({', '.join(sorted(allowed))})")


for _perm, _roles in ROLES.items():
    _predicate = has_role(*_roles)
    if _perm == RATE:
        _predicate = is_rater
    elif _perm == ADJUDICATE:
        _predicate = _predicate | is_adjudicating_rater
    rules.add_perm(_perm, _predicate)


# --- Every URL's rule, by URL name (fnmatch patterns allowed for families of URLs that
# are not the study's). A permission above: a member holding it (404 for anyone else, so
# a study's slug cannot be probed). PUBLIC: anyone (participants' token pages, sign-in,
# health). SIGNED_IN: any signed-in user, who sees only what their roles allow there.
# ADMIN: the Django admin, staff only, scoped by studies.admin to studies the user may
# change (CHANGE_STUDY); superusers everything.
PUBLIC = "public"
SIGNED_IN = "signed_in"
ADMIN = "admin"

URL_ACCESS: dict[str, str] = {
    "home": PUBLIC,  # a redirect to the study list
    "healthz": PUBLIC,
    "metrics": PUBLIC,  # guarded by its own token / network (core.views)
    "admin:*": ADMIN,
    "account_*": PUBLIC,
    # Two-factor authentication (allauth.mfa): the user's own authenticators. The code
    # asked while signing in (mfa_authenticate) is for a user not yet signed in; the
    # pages of an authenticator answer 404 to a user who has none (allauth's
    # login_required sends anonymous users to sign in), so they are not walked.
    "mfa_authenticate": PUBLIC,
    "mfa_deactivate_totp": PUBLIC,
    # A security key's pages (allauth.mfa.webauthn): only the user's own keys (another's
    # pk answers 404); their pk sits in an enclosing include, so they are not walked.
    "mfa_edit_webauthn": PUBLIC,
    "mfa_remove_webauthn": PUBLIC,
    "mfa_view_recovery_codes": PUBLIC,
    "mfa_download_recovery_codes": PUBLIC,
    "mfa_*": SIGNED_IN,
    "prolific:webhook": PUBLIC,  # signed by Prolific (participation.prolific_webhooks)
    "participation:*": PUBLIC,  # the participant's token is the key
    "chat:*": PUBLIC,
    "analysis:study_list": SIGNED_IN,
    "studies:design_upload": SIGNED_IN,  # a new study, whose owner the uploader becomes
    "studies:study_new": SIGNED_IN,  # likewise (a copy: of a study whose design they see)
    # Disposition scales (studies.views_scales) are shared, not a study's: anyone lists,
    # makes and copies them; a scale's edit page answers 404 to all but the scale's owner
    # (so the walk has no sample scale_id: an allowed user meets the 404 too).
    "studies:scales": SIGNED_IN,
    "studies:scale_new": SIGNED_IN,
    "studies:scale_edit": SIGNED_IN,
    "ratings:home": SIGNED_IN,
    # Model endpoints: each view answers 404 for an endpoint the user may not see
    # (accounts.permissions.endpoints_visible_to) and 403 for a change by a non-owner.
    "endpoints:*": SIGNED_IN,
    "analysis:study_detail": VIEW_RESULTS,  # blinded analysts: sent to the blinded dashboard
    "analysis:study_figures": VIEW_UNBLINDED,
    "analysis:dashboard": VIEW_RESULTS,
    "analysis:dashboard_tasks": VIEW_RESULTS,
    "analysis:blinding_guard": VIEW_RESULTS,
    "analysis:transcript": VIEW_RESULTS,
    "analysis:score_correct": CORRECT_SCORES,  # POST (analysis.corrections)
    "analysis:export_table": VIEW_RESULTS,
    "analysis:export_dictionary": VIEW_RESULTS,
    "analysis:information": VIEW_RESULTS,
    "analysis:power": VIEW_STUDY,
    "analysis:plan": VIEW_DESIGN,  # POST (a new version): CHANGE_STUDY
    "analysis:reveal_inference": REVEAL_INFERENCE,
    "analysis:raw_identifiers": RELEASE_IDENTIFIERS,
    "studies:design_download": VIEW_DESIGN,
    "studies:members": MANAGE_MEMBERS,
    "studies:member_change": MANAGE_MEMBERS,
    "studies:invite": MANAGE_MEMBERS,  # POST (studies.invitations)
    "studies:invitation_resend": MANAGE_MEMBERS,
    "studies:invitation_revoke": MANAGE_MEMBERS,
    # The e-mail's link: anyone holding it; accepting needs the invited address's account.
    "invitations:*": PUBLIC,
    "studies:preview": CHANGE_STUDY,  # POST: a preview participant (participation.preview)
    "studies:settings": CHANGE_STUDY,  # the study builder (studies.views_builder)
    "studies:allocation": CHANGE_STUDY,  # studies.views_recruitment
    "studies:screening": CHANGE_STUDY,
    "studies:prolific_settings": CHANGE_STUDY,
    "studies:blinding": CHANGE_STUDY,  # studies.views_blinding
    "studies:translations": CHANGE_STUDY,  # studies.views_translations
    "studies:translation": CHANGE_STUDY,
    "studies:scenario_translation": CHANGE_STUDY,
    "studies:scenarios": CHANGE_STUDY,
    "studies:scenario_new": CHANGE_STUDY,
    "studies:scenario_edit": CHANGE_STUDY,
    "studies:scenario_delete": CHANGE_STUDY,
    "studies:arms": CHANGE_STUDY,
    "studies:arm_new": CHANGE_STUDY,
    "studies:arm_edit": CHANGE_STUDY,
    "studies:arm_delete": CHANGE_STUDY,
    "audit:audit_log": VIEW_AUDIT,
    "audit:audit_log_csv": VIEW_AUDIT,
    "evaluations:page": VIEW_DESIGN,
    "evaluations:runs": VIEW_DESIGN,
    "evaluations:run_detail": VIEW_DESIGN,
    "evaluations:start": CHANGE_STUDY,
    "evaluations:prompt_new": CHANGE_STUDY,
    "evaluations:prompt_edit": CHANGE_STUDY,
    "evaluations:cancel": CHANGE_STUDY,
    "evaluations:delete": CHANGE_STUDY,
    "grader:results": VIEW_DESIGN,
    "prolific:page": CHANGE_STUDY,
    "ratings:queue": RATE,
    "ratings:rate": RATE,
    "ratings:score_correct": RATE,  # only the rater's own item (ratings.corrections)
    "ratings:adjudication_queue": ADJUDICATE,
    "ratings:adjudicate": ADJUDICATE,
    "ratings:manage": CHANGE_STUDY,
    "ratings:rater_change": CHANGE_STUDY,
    "ratings:round_new": CHANGE_STUDY,
    # Pages other work added with today's default of study_get_for_user_or_404 (owners
    # and collaborators); their authors may open them wider by naming a permission.
    "analysis:monitor": CHANGE_STUDY,
    "analysis:monitor_live": CHANGE_STUDY,
    "studies:pause": CHANGE_STUDY,
    "studies:resume": CHANGE_STUDY,
    # Starting the pilot and going live: who designs and runs the study, as in the admin
    # (scoped to CHANGE_STUDY) and what `manage.py launch_study` trusts its operator with.
    "studies:launch": CHANGE_STUDY,
    "questionnaires:*": CHANGE_STUDY,
    "ratings:summary": VIEW_RESULTS,  # agreement between raters: no arm in it
    "ratings:agreement": VIEW_RESULTS,
    # The REST API (studyapp.api): each route the permission of the page it mirrors,
    # checked for the token's user (see BEARER_URL_PATTERN); the schema and docs are public.
    "api:api-root": PUBLIC,
    "api:openapi-json": PUBLIC,
    "api:openapi-view": PUBLIC,
    "api:studies": SIGNED_IN,  # the studies the token's user holds a role in
    "api:study": VIEW_STUDY,
    "api:participants": VIEW_RESULTS,  # blinded analysts: arms by letter only
    "api:answers": VIEW_RESULTS,  # as the exports (blinded for blinded analysts)
    "api:messages": VIEW_RESULTS,
    "api:report": VIEW_UNBLINDED,  # as analysis:study_figures
    "api:export": VIEW_RESULTS,
    "api:evaluations": VIEW_DESIGN,
    "api:evaluation": VIEW_DESIGN,
    "api:evaluation_cancel": CHANGE_STUDY,
    "api:evaluation_start": CHANGE_STUDY,
    # The design (api.routes_design): read as the design file, written as the builder's
    # pages (with a token of the `write` scope).
    "api:study_create": SIGNED_IN,  # as studies:design_upload
    "api:settings": VIEW_DESIGN,
    "api:settings_update": CHANGE_STUDY,
    "api:scenario": VIEW_DESIGN,
    "api:scenario_create": CHANGE_STUDY,
    "api:scenario_update": CHANGE_STUDY,
    "api:arm": VIEW_DESIGN,
    "api:arm_create": CHANGE_STUDY,
    "api:arm_update": CHANGE_STUDY,
    "api_tokens:*": SIGNED_IN,  # a user's own tokens (another's answers 404)
}

# URLs authenticated by an API token (Authorization: Bearer), never by the session: a
# request without a usable token answers 401, and the rule above is checked for the
# token's user. Routes of one path share its URL pattern, each under its own name: the
# rule of a name is its route's (the method it is declared with).
BEARER_URL_PATTERN = "api:*"


def url_uses_token(name: str) -> bool:
    return fnmatchcase(name, BEARER_URL_PATTERN) and url_rule(name) != PUBLIC


def url_rule(name: str) -> str | None:
    """The declared rule of a URL name: an exact entry first, then a pattern; None when
    the URL has none (a new URL must be declared here)."""
    if name in URL_ACCESS:
        return URL_ACCESS[name]
    for pattern, rule in URL_ACCESS.items():
        if any(c in pattern for c in "*?[") and fnmatchcase(name, pattern):
            return rule
    return None
