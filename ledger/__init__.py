"""arrears.ledger."""
