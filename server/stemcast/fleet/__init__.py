"""Separation workers on other machines: tasks and events through Redis Streams."""
