from rest_framework.routers import SimpleRouter

from funds.api.views import CaseViewSet, InstructionViewSet

router = SimpleRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("instructions", InstructionViewSet, basename="instruction")

api_urlpatterns = router.urls
