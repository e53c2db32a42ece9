"""The pages of funds: the officer's cases, the liaison's inbox, the manager's desk, and
everyone's notices."""

from django.urls import path

from funds.views import flow, imports, liaison, manager, notices, officer, reports, shared

urlpatterns = [
    path("cases/", officer.case_list, name="case-list"),
    path("cases/new/", officer.case_new, name="case-new"),
    path("cases/<int:pk>/", officer.case_detail, name="case-detail"),
    path("cases/<int:pk>/victims/", officer.victim_add, name="case-victim-add"),
    path(
        "cases/<int:pk>/victims/<int:victim_pk>/reveal/",
        officer.victim_reveal,
        name="case-victim-reveal",
    ),
    path("cases/<int:pk>/accounts/", officer.account_add, name="case-account-add"),
    path("cases/<int:pk>/transfers/", officer.transfer_add, name="case-transfer-add"),
    path("cases/<int:pk>/instructions/", officer.instruction_add, name="case-instruction-add"),
    path("cases/<int:pk>/allocations/", officer.round_open, name="case-round-open"),
    path("cases/<int:pk>/flow/<str:node>/", flow.flow_node, name="case-flow-node"),
    path("cases/<int:pk>/imports/", imports.import_upload, name="case-import-upload"),
    path(
        "cases/<int:pk>/proposed-stops/",
        imports.proposed_stops_page_send,
        name="case-proposed-stops-send",
    ),
    path("cases/<int:pk>/<slug:action>/", officer.case_action, name="case-action"),
    path("imports/<int:pk>/", imports.import_detail, name="statement-import"),
    path("imports/<int:pk>/progress/", imports.import_progress, name="statement-import-progress"),
    path("imports/<int:pk>/commit/", imports.import_commit, name="statement-import-commit"),
    path(
        "instructions/<int:pk>/<slug:action>/",
        officer.instruction_officer_action,
        name="instruction-action",
    ),
    path("allocations/<int:pk>/objections/", officer.round_object, name="round-object"),
    path("allocations/<int:pk>/withdraw/", officer.round_withdraw, name="round-withdraw"),
    path("inbox/", liaison.inbox, name="inbox"),
    path("inbox/rows/", liaison.inbox_rows, name="inbox-rows"),
    path("inbox/answers/", liaison.inbox_answers, name="inbox-answers"),
    path("inbox/answers.xlsx", liaison.inbox_answers_template, name="inbox-answers-template"),
    path("inbox/<int:pk>/execute/", liaison.inbox_execute, name="inbox-execute"),
    path("inbox/<int:pk>/reject/", liaison.inbox_reject, name="inbox-reject"),
    path("inbox/<int:pk>/confirm-hold/", liaison.inbox_confirm_hold, name="inbox-confirm-hold"),
    path("notices/", notices.notices, name="notices"),
    path("notices/list/", notices.notices_list, name="notices-list"),
    path("notices/bell/", notices.notices_bell, name="notices-bell"),
    path("notices/read/", notices.notices_read_all, name="notices-read-all"),
    path("notices/<int:pk>/read/", notices.notice_read, name="notice-read"),
    path("desk/", manager.desk_page, name="desk"),
    path("desk/<int:pk>/approve/", manager.desk_approve, name="desk-approve"),
    path("desk/allocations/<int:pk>/confirm/", manager.desk_confirm, name="desk-round-confirm"),
    path("desk/shared-accounts/", shared.shared_accounts, name="desk-shared-accounts"),
    path("desk/reports/", reports.report_list, name="desk-reports"),
    path("desk/reports/<int:pk>/", reports.report_detail, name="desk-report"),
    path(
        "desk/reports/<int:pk>.csv",
        reports.report_download,
        {"extension": "csv"},
        name="desk-report-csv",
    ),
    path(
        "desk/reports/<int:pk>.xlsx",
        reports.report_download,
        {"extension": "xlsx"},
        name="desk-report-xlsx",
    ),
]
