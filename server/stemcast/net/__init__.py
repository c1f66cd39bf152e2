"""Outbound network access: every request the server makes to an address a client named."""
