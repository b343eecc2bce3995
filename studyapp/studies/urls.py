from __future__ import annotations

from django.urls import path

from studyapp.studies import (
    views_arms,
    views_blinding,
    views_builder,
    views_design,
    views_launch,
    views_members,
    views_preview,
    views_recruitment,
    views_scales,
    views_status,
    views_translations,
)

app_name = "studies"
urlpatterns = [
    path("<slug:slug>/design/", views_design.design_download, name="design_download"),
    path("<slug:slug>/pause/", views_status.pause, name="pause"),
    path("<slug:slug>/resume/", views_status.resume, name="resume"),
    path("<slug:slug>/launch/", views_launch.launch, name="launch"),
    path("<slug:slug>/preview/", views_preview.preview, name="preview"),
    path("<slug:slug>/members/", views_members.members, name="members"),
    path("<slug:slug>/members/invite/", views_members.invite, name="invite"),
    path(
        "<slug:slug>/members/invitations/<int:invitation_id>/resend/",
        views_members.invitation_resend_view,
        name="invitation_resend",
    ),
    path(
        "<slug:slug>/members/invitations/<int:invitation_id>/revoke/",
        views_members.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path(
        "<slug:slug>/members/<int:user_id>/",
        views_members.member_change,
        name="member_change",
    ),
    path("<slug:slug>/settings/", views_builder.study_settings, name="settings"),
    path("<slug:slug>/allocation/", views_recruitment.allocation, name="allocation"),
    path("<slug:slug>/screening/", views_recruitment.screening, name="screening"),
    path(
        "<slug:slug>/prolific/settings/",
        views_recruitment.prolific_settings,
        name="prolific_settings",
    ),
    path("<slug:slug>/blinding/", views_blinding.blinding, name="blinding"),
    path("<slug:slug>/translations/", views_translations.translation_list, name="translations"),
    path(
        "<slug:slug>/translations/<str:language>/",
        views_translations.translation_edit,
        name="translation",
    ),
    path(
        "<slug:slug>/translations/<str:language>/scenarios/<int:scenario_id>/",
        views_translations.scenario_translation_edit,
        name="scenario_translation",
    ),
    path("<slug:slug>/scenarios/", views_builder.scenario_list, name="scenarios"),
    path("<slug:slug>/scenarios/new/", views_builder.scenario_new, name="scenario_new"),
    path(
        "<slug:slug>/scenarios/<int:scenario_id>/",
        views_builder.scenario_edit,
        name="scenario_edit",
    ),
    path(
        "<slug:slug>/scenarios/<int:scenario_id>/delete/",
        views_builder.scenario_delete,
        name="scenario_delete",
    ),
    path("<slug:slug>/arms/", views_arms.arm_list, name="arms"),
    path("<slug:slug>/arms/new/", views_arms.arm_new, name="arm_new"),
    path("<slug:slug>/arms/<int:arm_id>/", views_arms.arm_edit, name="arm_edit"),
    path("<slug:slug>/arms/<int:arm_id>/delete/", views_arms.arm_delete, name="arm_delete"),
    # Two segments, so no study's slug shadows it (or is shadowed by it).
    path("design-files/new/", views_design.design_upload, name="design_upload"),
    path("builder/new/", views_builder.study_new, name="study_new"),
    path("builder/scales/", views_scales.scale_list, name="scales"),
    path("builder/scales/new/", views_scales.scale_new, name="scale_new"),
    path("builder/scales/<int:scale_id>/", views_scales.scale_edit, name="scale_edit"),
]
