"""The API routes of funds, under /api/v1/ (casetracker.urls)."""

from django.urls import path

from funds.api.routers import IdRouter
from funds.api.views import (
    AllocationRoundViewSet,
    CaseViewSet,
    FlagViewSet,
    InstructionViewSet,
    NotificationViewSet,
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
    *router.urls,
    path("reports/totals/", TotalsView.as_view(), name="report-totals"),
    path("reports/speed/", SpeedView.as_view(), name="report-speed"),
]
