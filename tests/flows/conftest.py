"""Fixtures shared with other test packages: fresh labs, the broken build, the webhook receiver."""

from tests.patching.conftest import broken_build, make_lab  # noqa: F401
from tests.schedule.test_schedule_notify import receiver  # noqa: F401
