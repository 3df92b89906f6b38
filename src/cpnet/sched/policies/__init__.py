"""Bundled policies, one rule per module. Importing this package registers them."""
