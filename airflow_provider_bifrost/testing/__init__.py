"""Test helpers for DAGs that use Bifrost: a local emulator of the gateway's batch API."""
