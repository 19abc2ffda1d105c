"""tunehouse itself never imports TensorFlow or Keras."""

from __future__ import annotations

from collections.abc import Callable

from tests.integrations.conftest import ScriptRun


def test_importing_and_tracking_without_tensorflow_imports_no_framework(
        run_script: Callable[..., ScriptRun]) -> None:
    run = run_script("""
        import json, sys
        import tunehouse
        from tunehouse import Task, OutputModel, InputModel, Logger
        import tunehouse.integrations.keras
        import tunehouse.integrations.tensorboard
        import tunehouse.integrations.frameworks as frameworks
        import tunehouse.cli.models
        task = Task.init(project_name="isolation", task_name="no tf")
        registered = frameworks.integration_names()
        task.get_logger().report_scalar("x", "y", 1.0, 0)
        task.close()
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("tensorflow", "keras", "tensorboard"))
        print("RESULT " + json.dumps({"loaded": loaded, "registered": registered}))
    """)
    assert run.result["loaded"] == []
    assert {"keras", "tensorboard"} <= set(run.result["registered"])
