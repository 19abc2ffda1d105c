"""What ``Task.init`` records automatically: git, environment, console, resources, seeds.

Each part can be switched off (see ``Task.init``'s ``capture`` option and docs/sdk.md).
"""
