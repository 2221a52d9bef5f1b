from django.contrib.admin.apps import AdminConfig


class AimaAdminConfig(AdminConfig):
    """The admin with AIMA's site: every ``admin.register`` lands on it, and its
    login asks staff with a second factor for their code."""

    default_site = "aima_web.accounts.admin_site.AimaAdminSite"
