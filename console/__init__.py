"""The agent and supervisor consoles, and the content agents use in them (canned
responses, wrap-up codes)."""
