"""Every URL of the project, requested as every role of a study, anonymous, a signed-in
stranger and a superuser, against the rule studies.roles.URL_ACCESS declares for it.

The URLs come from walking the resolver, so a new URL without a declared rule fails
here by name. Study pages deny with 404 (a slug cannot be probed), anonymous users are
sent to sign in. API routes (roles.url_uses_token) are requested with each user's API
token instead of a session, and without one answer 401. Each request runs in a savepoint
that is rolled back, so a POST (delete a run, revoke a role) does not change what the
next user meets.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from studyapp.api.models import Scope
from studyapp.api.routes import api
from studyapp.api.services import token_create
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.science.prompts import DEFAULT_MODEL_ALONE_PRESET
from studyapp.ratings.models import RatingItem
from studyapp.ratings.services.labels import label_save
from studyapp.ratings.services.rounds import round_create
from studyapp.studies import roles
from studyapp.studies.models import Study
from studyapp.studies.roles import Role
from tests.factories import make_member, make_user
from tests.ratings.dataset import decision, make_rated_study
from tests.ratings.test_labels import assignment


def _walk(patterns, namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield name, entry


def url_names() -> list[str]:
    names = set()
    for name, pattern in _walk(get_resolver().url_patterns):
        if name is None:
            # Unnamed patterns exist only inside the admin (its catch-all and redirects).
            assert str(pattern.pattern).startswith(("<path:object_id>", "(?P<url>")) or (
                "admin" in pattern.lookup_str
            ), f"unnamed URL pattern {pattern.pattern!r}: give it a name and a rule"
            continue
        names.add(name)
    return sorted(names)


URL_NAMES = url_names()

CAST = [
    "anonymous",
    "stranger",
    "superuser",
    Role.OWNER,
    Role.COLLABORATOR,
    Role.ANALYST,
    Role.BLINDED_ANALYST,
    Role.AUDITOR,
    "rater",
    "adjudicator",
]


def allowed(rule: str, who: str) -> bool:
    if rule == roles.SIGNED_IN:
        return who != "anonymous"
    if rule == roles.RATE:
        return who == "rater"  # superusers are no raters: a rater's queue is theirs
    if who in ("anonymous", "stranger"):
        return False
    if who == "superuser":
        return True
    if rule == roles.ADJUDICATE and who == "adjudicator":
        return True
    return who in roles.roles_with(rule)


def test_every_url_has_a_declared_rule():
    undeclared = [name for name in URL_NAMES if roles.url_rule(name) is None]
    assert not undeclared, (
        "URLs without an access rule: "
        + ", ".join(undeclared)
        + ". Declare each in studyapp.studies.roles.URL_ACCESS (and check its view asks "
        "study_get_for_user_or_404 for that permission)."
    )


def test_every_declared_rule_is_a_known_permission_or_kind():
    kinds = {roles.PUBLIC, roles.SIGNED_IN, roles.ADMIN, *roles.ROLES}
    assert set(roles.URL_ACCESS.values()) <= kinds


@pytest.fixture
def walk(db):
    owner = make_user("owner")
    users = {"superuser": make_user("root", superuser=True), "stranger": make_user("stranger")}
    rated = make_rated_study(
        investigator=owner,
        rater1=make_user("rater"),
        rater2=make_user("rater2"),
        adjudicator=make_user("adjudicator"),
        slug="walk",
    )
    users["owner"] = owner
    for role in (Role.COLLABORATOR, Role.ANALYST, Role.BLINDED_ANALYST, Role.AUDITOR):
        users[role] = make_user(role.replace("_", "-"))
        make_member(rated.study, users[role], role, granted_by=owner)
    users["rater"] = rated.r1.user
    users["adjudicator"] = rated.adjudicator.user
    round_create(study=rated.study, name="R", created_by=owner, double_share=1, seed=11)
    # A disagreement, so the item waits for adjudication.
    label_save(
        assignment=assignment(rated, rated.r1, "A2"),
        decision=decision({"ovarian torsion"}, {"fever"}),
    )
    label_save(
        assignment=assignment(rated, rated.r2, "A2"),
        decision=decision({"ovarian torsion"}, set()),
    )
    run = EvaluationRun.objects.create(study=rated.study, key="rubric", kind="rubric")
    scenario = rated.study.scenarios.filter(is_active=True).first()
    arm = rated.study.arms.order_by("key").first()
    for who in list(users):
        users[f"{who}-token"] = token_create(
            user=users[who], name="walk", scopes=list(Scope.values)
        ).secret
    kwargs = {
        "slug": "walk",
        "task_id": rated.answers["A1"].task_id,
        "run_id": run.pk,
        "rater_id": rated.r2.pk,
        "position": assignment(rated, rated.r1, "A1").position,
        "item_id": RatingItem.objects.get(answer=rated.answers["A2"]).pk,
        "key": DEFAULT_MODEL_ALONE_PRESET,
        "table": "tasks",
        "fmt": "csv",
        "user_id": users[Role.ANALYST].pk,
        "scenario_key": scenario.key,
        "arm_key": arm.key,
    }
    return users, kwargs


def _url(name: str, kwargs: dict) -> tuple[str, bool]:
    """The URL with the walk's objects, and whether every argument had one. An argument
    without a sample (another app's object id) gets 0: then only the refusals are
    checked, as an allowed user meets that missing object's 404."""
    pattern = dict(_walk(get_resolver().url_patterns))[name]
    needed = list(getattr(pattern.pattern, "converters", {}))
    complete = all(k in kwargs for k in needed)
    return reverse(name, kwargs={k: kwargs.get(k, 0) for k in needed}), complete


def _api_methods() -> dict[str, str]:
    """Each API route's URL name -> its method. The routes of one path (GET and PATCH of
    a study's settings) share one URL pattern, so the name alone does not say which to
    call: each is called with its own method (a write with an empty JSON body, which the
    route's permission refuses before its form judges it)."""
    methods = {}
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                methods[f"api:{operation.url_name}"] = operation.methods[0]
    return methods


API_METHODS = _api_methods()


def _request(client, url: str, headers: dict, name: str = ""):
    method = API_METHODS.get(name, "GET")
    if method != "GET":
        return getattr(client, method.lower())(
            url, {}, content_type="application/json", headers=headers
        )
    response = client.get(url, headers=headers)
    if response.status_code == 405:
        response = client.post(url, {}, headers=headers)
    return response


def _outcome(client, who, users, url, *, token: bool = False, name: str = ""):
    sid = transaction.savepoint_create()
    try:
        client.logout()
        headers = {}
        if who != "anonymous" and token:
            headers = {"Authorization": f"Bearer {users[f'{who}-token']}"}
        elif who != "anonymous":
            client.force_login(users[who])
        return _request(client, url, headers, name)
    finally:
        transaction.savepoint_rollback(sid)


STUDY_URLS = [n for n in URL_NAMES if roles.url_rule(n) in roles.ROLES]
SIGNED_IN_URLS = [n for n in URL_NAMES if roles.url_rule(n) == roles.SIGNED_IN]


@pytest.mark.parametrize("name", STUDY_URLS + SIGNED_IN_URLS)
def test_each_role_gets_what_the_table_says(client, walk, name):
    users, kwargs = walk
    rule = roles.url_rule(name)
    url, complete = _url(name, kwargs)
    wrong = []
    for who in CAST:
        token = roles.url_uses_token(name)
        response = _outcome(client, who, users, url, token=token, name=name)
        status = response.status_code
        if who == "anonymous" and token:
            ok = status == 401
        elif who == "anonymous":
            ok = status == 302 and "/login/" in response["Location"]
        elif allowed(rule, who):
            ok = status not in (403, 404) if complete else status != 403
            ok = ok and status < 500
        else:
            ok = status == 404
        if not ok:
            wrong.append(f"{who}: {status}")
    assert not wrong, f"{name} ({rule}): " + ", ".join(wrong)


def test_the_admin_is_for_staff_and_superusers_see_it_all(client, walk):
    users, _ = walk
    for who in CAST:
        response = _outcome(client, who, users, reverse("admin:index"))
        if who == "superuser":
            assert response.status_code == 200
        else:  # none of the cast is staff: the admin's sign-in page
            assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_anonymous_user_is_refused_by_the_permission_itself(walk):
    study = Study.objects.get(slug="walk")
    for perm in roles.ROLES:
        assert not AnonymousUser().has_perm(perm, study)


def test_read_only_roles_see_the_evaluations_without_their_controls(client, walk):
    users, _ = walk
    url = reverse("evaluations:page", args=["walk"])
    for who, controls in (("owner", True), (Role.ANALYST, False), (Role.AUDITOR, False)):
        client.force_login(users[who])
        html = client.get(url).content.decode()
        assert ('id="start-run"' in html) == controls, who
        assert ("/evaluations/prompts/" in html) == controls, who
