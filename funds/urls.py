from django.urls import path
from rest_framework.routers import SimpleRouter

from funds.api.reports import TotalsView
from funds.api.views import CaseViewSet, FlagViewSet, InstructionViewSet, NotificationViewSet

router = SimpleRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("instructions", InstructionViewSet, basename="instruction")
router.register("flags", FlagViewSet, basename="flag")
router.register("notifications", NotificationViewSet, basename="notification")

api_urlpatterns = [
    *router.urls,
    path("reports/totals/", TotalsView.as_view(), name="report-totals"),
]
