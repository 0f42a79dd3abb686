"""Hooks: the one place that knows Bifrost's auth, HTTP policy and wire format."""
