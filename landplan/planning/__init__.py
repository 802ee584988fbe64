"""Planning on a workspace: park boundaries, suggested regions, scenarios, what to build next (unlock)."""
