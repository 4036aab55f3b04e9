"""The hosted CRM: people and companies, their identities across channels, custom fields,
notes, one timeline across media, search, merge, import and export, privacy, and the
tenant's own CRM kept in the loop (webhooks and lookups)."""
