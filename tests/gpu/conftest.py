"""The GPU tests start real agents like the agent tests do."""

from tests.agent.conftest import start_agent  # noqa: F401 - shared fixture
