# Placeholder until the analyst-pages helper writes it.
from django.http import HttpResponse
from django.views import View


class UploadPage(View):
    def get(self, request):
        return HttpResponse("not yet", status=501)


class JobList(UploadPage):
    pass


class JobPage(UploadPage):
    pass
