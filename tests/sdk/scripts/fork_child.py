"""Report from a forked child process (multiprocessing with the fork start method)."""

import multiprocessing

from tunehouse import Task


def child(task_id: str) -> None:
    task = Task.current_task()
    assert task is not None and task.id == task_id
    logger = task.get_logger()
    for i in range(100):
        logger.report_scalar("child", "s", float(i), i)
    assert task.flush(30)


task = Task.init(project_name="sdk/fork", task_name="fork", auto_resource_monitoring=False)
print(f"TASK_ID={task.id}", flush=True)
task.get_logger().report_scalar("parent", "s", 1.0, 0)
process = multiprocessing.get_context("fork").Process(target=child, args=(task.id,))
process.start()
process.join(60)
assert process.exitcode == 0, process.exitcode
task.get_logger().report_scalar("parent", "s", 2.0, 1)
