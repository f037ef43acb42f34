"""arrears.client."""
