from rest_framework.routers import SimpleRouter

from aima_web.uploads.api import UploadViewSet

router = SimpleRouter()
router.register("", UploadViewSet, basename="upload")
urlpatterns = router.urls
