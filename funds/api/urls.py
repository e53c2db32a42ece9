"""The API routes of funds, under /api/v1/ (casetracker.urls)."""

from django.urls import path

from funds.api.imports import CaseImportsView, ImportDetailView, ProposedStopsView
from funds.api.routers import IdRouter
from funds.api.tracing import CaseGraphView, InstructionAnswersView, SharedAccountsView
from funds.api.views import (
    AllocationRoundViewSet,
    CaseViewSet,
    FlagViewSet,
    InstructionViewSet,
    NotificationViewSet,
    VictimAccountRevealView,
)
from funds.reports.api import PeriodicReportViewSet, SpeedView, TotalsView

router = IdRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("instructions", InstructionViewSet, basename="instruction")
router.register("allocations", AllocationRoundViewSet, basename="allocation-round")
router.register("flags", FlagViewSet, basename="flag")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("reports/periodic", PeriodicReportViewSet, basename="periodic-report")

api_urlpatterns = [
    # Ahead of the router, whose ``instructions/{pk}/`` would take ``answers`` for an id.
    path("cases/<int:pk>/graph/", CaseGraphView.as_view(), name="case-graph"),
    path("accounts/shared/", SharedAccountsView.as_view(), name="shared-accounts"),
    path("instructions/answers/", InstructionAnswersView.as_view(), name="instruction-answers"),
    path("cases/<str:pk>/imports/", CaseImportsView.as_view(), name="case-imports"),
    path("imports/<str:pk>/", ImportDetailView.as_view(), name="statement-import-detail"),
    path("cases/<str:pk>/proposed-stops/", ProposedStopsView.as_view(), name="case-proposed-stops"),
    *router.urls,
    path(
        "cases/<int:pk>/victims/<int:victim_id>/reveal/",
        VictimAccountRevealView.as_view(),
        name="victim-account-reveal",
    ),
    path("reports/totals/", TotalsView.as_view(), name="report-totals"),
    path("reports/speed/", SpeedView.as_view(), name="report-speed"),
]
