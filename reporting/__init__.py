"""Statistics read from the routing history: live queue figures for supervisors."""
