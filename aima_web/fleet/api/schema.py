"""How the agents' authentication schemes appear in the OpenAPI schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AgentAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "aima_web.fleet.auth.AgentAuthentication"
    name = "agentCredential"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Agent <credential>`, as returned by agent registration."}


class EnrollmentAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "aima_web.fleet.auth.EnrollmentAuthentication"
    name = "enrollmentToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An enrollment token from `manage.py aima_enroll` or the admin."}
