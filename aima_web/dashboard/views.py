# Placeholder until the dashboard helper writes it.
from django.http import HttpResponse
from django.views import View


class Dashboard(View):
    def get(self, request):
        return HttpResponse("not yet", status=501)
