"""Imports every table module so the metadata is complete (migrations, tests)."""

from plateaux.api import models as api_models
from plateaux.billing import models as billing_models
from plateaux.channels.chat import models as chat_models
from plateaux.channels.email import models as email_models
from plateaux.channels.voip import models as voice_models
from plateaux.console import models as console_models
from plateaux.crm import models as crm_models
from plateaux.embed import models as embed_models
from plateaux.helpdesk import models as helpdesk_models
from plateaux.platform.auth import models as auth_models
from plateaux.routing import models as routing_models
from plateaux.tenants import models as tenant_models

__all__ = [
    "api_models",
    "auth_models",
    "billing_models",
    "chat_models",
    "console_models",
    "crm_models",
    "email_models",
    "embed_models",
    "helpdesk_models",
    "routing_models",
    "tenant_models",
    "voice_models",
]
