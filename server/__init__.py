"""arrears.server."""
