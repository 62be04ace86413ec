"""processing subpackage."""
