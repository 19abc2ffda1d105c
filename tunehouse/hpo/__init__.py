"""Hyperparameter search: search spaces, strategies and the controller that turns a base
task into trials. Not built yet (issue 10).

Boundary (checked by import-linter in CI): the search reaches the records only through
:mod:`tunehouse.client` / :mod:`tunehouse.store` interfaces and never imports
:mod:`tunehouse.server`.
"""
