from django.urls import URLPattern, re_path

from aima_web.taskmonitor.proxy import FlowerProxy

urlpatterns: list[URLPattern] = [
    # Everything under /flower/, Flower's own paths carrying the same prefix.
    re_path(r"^(?P<path>.*)$", FlowerProxy.as_view(), name="flower"),
]
