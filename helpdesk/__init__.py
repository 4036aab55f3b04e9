"""The help desk: cases that group a customer's contacts, SLA policies counted in business
hours with escalation and notifications, quality reviews and satisfaction, call scripts,
and a multilingual knowledge base with article suggestions and a public help center."""
