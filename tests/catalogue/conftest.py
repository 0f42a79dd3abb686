from __future__ import annotations

# The emulator fixtures of the integration tests: one emulator for the session, reset for each test.
from tests.integration.conftest import emulator, emulator_server

__all__ = ["emulator", "emulator_server"]
