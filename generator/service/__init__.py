"""The HTTP service (`stratops serve`): tenant-authenticated API over generator.actions."""
