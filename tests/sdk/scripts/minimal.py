"""Start a task, print its id and end."""

from tunehouse import Task

task = Task.init(project_name="sdk/minimal", task_name="minimal",
                 auto_resource_monitoring=False)
print(f"TASK_ID={task.id}")
