"""The agent: pulls queued tasks, restores their code and environment, runs them and
reports them (``tunehouse agent``). Not built yet (issue 9).

Boundary (checked by import-linter in CI): the agent reaches the records only through
:mod:`tunehouse.client` / :mod:`tunehouse.store` interfaces and never imports
:mod:`tunehouse.server`.
"""
