"""Parameters and configurations of a task: what ``Task.connect`` and its relatives do.

:class:`ParameterBinding` records the values a script connects (dicts, argparse parsers
and namespaces, other objects, configuration dicts and files) as parameters and
configurations of one task. Under an agent (``TUNEHOUSE_TASK_ID``) it first loads the
task's stored values (:meth:`ParameterBinding.load_stored`), which then win over the
script's: they are written into the connected object, cast to the script's types.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from tunehouse.errors import InvalidInput
from tunehouse.integrations import argparse_hook
from tunehouse.sdk import parameters as params
from tunehouse.store.base import Store
from tunehouse.store.records import Configuration, Parameter

T = TypeVar("T")


class ParameterBinding:
    """Parameters and configurations of task ``task_id`` in ``store``, with the stored
    values known to this process."""

    def __init__(self, store: Store, task_id: str) -> None:
        self._store = store
        self._task_id = task_id
        self._remote = False
        self._stored_params: dict[tuple[str, str], Any] = {}
        self._stored_configs: dict[str, Configuration] = {}

    def load_stored(self) -> None:
        """Read the task's stored parameters and configurations: from now on they win
        over the values the script connects (agent mode)."""
        self._remote = True
        self._stored_params = {(p.section, p.name): p
                               for p in self._store.tasks.get_parameters(self._task_id)}
        self._stored_configs = {c.name: c
                                for c in self._store.tasks.get_configurations(self._task_id)}

    # ================================================================ connect
    def connect(self, obj: T, name: str | None = None) -> T:
        """See :meth:`tunehouse.sdk.task.Task.connect`."""
        if isinstance(obj, argparse.ArgumentParser):
            section = name or params.ARGS_SECTION
            defaults = argparse_hook.parser_defaults(obj)
            applied = self._connect_mapping(section, defaults, extras=False)
            changed = {k: v for k, v in applied.items() if defaults.get(k) is not v}
            if changed:
                obj.set_defaults(**changed)
            return obj
        if isinstance(obj, argparse.Namespace):
            self._connect_attributes(obj, name or params.ARGS_SECTION)
            return obj
        if isinstance(obj, dict):
            self._connect_mapping(name or params.DEFAULT_SECTION, obj, extras=True)
            return obj
        if isinstance(obj, Mapping):
            raise InvalidInput("connect() takes a dict, not a read-only mapping")
        if isinstance(obj, (str, bytes, int, float, list, tuple)) or obj is None:
            raise InvalidInput(f"connect() takes a dict, an argparse namespace or an "
                               f"object, not {type(obj).__name__}")
        self._connect_attributes(obj, name or params.DEFAULT_SECTION)
        return obj

    def _connect_attributes(self, obj: Any, section: str) -> None:
        fields = params.object_fields(obj)
        original = dict(fields)
        applied = self._connect_mapping(section, fields, extras=isinstance(obj, argparse.Namespace))
        for key, value in applied.items():
            if key not in original or original[key] is not value:
                setattr(obj, key, value)

    def _connect_mapping(self, section: str, mapping: dict[Any, Any],
                         extras: bool) -> dict[Any, Any]:
        """Store or apply the leaves of ``mapping``; updates it in place and returns it."""
        leaves = list(params.iter_leaves(mapping))
        if not self._remote:
            new = [params.to_parameter(section, leaf.name, leaf.value) for leaf in leaves]
            if new:
                self._store.tasks.set_parameters(self._task_id, new)
                self._remember(new)
            return mapping
        missing = []
        for leaf in leaves:
            stored = self._stored_params.get((section, leaf.name))
            if stored is None:
                missing.append(params.to_parameter(section, leaf.name, leaf.value))
                continue
            value = params.cast_like(stored, leaf.value)
            if value is not leaf.value:
                params.set_path(mapping, leaf.path, value)
        if extras:
            known = {leaf.name for leaf in leaves}
            for (stored_section, stored_name), stored in self._stored_params.items():
                if stored_section == section and stored_name not in known:
                    params.set_path(mapping, tuple(stored_name.split(".")), params.decode(stored))
        if missing:
            self._store.tasks.set_parameters(self._task_id, missing)
            self._remember(missing)
        return mapping

    def _remember(self, stored: list[Parameter]) -> None:
        for param in stored:
            self._stored_params[(param.section, param.name)] = param

    def connect_configuration(self, configuration: Any, name: str | None = None,
                              description: str = "") -> Any:
        """See :meth:`tunehouse.sdk.task.Task.connect_configuration`."""
        name = name or params.DEFAULT_SECTION
        if isinstance(configuration, dict):
            stored = self._stored_configs.get(name) if self._remote else None
            if stored is not None:
                try:
                    value = json.loads(stored.text)
                except ValueError as exc:
                    raise InvalidInput(f"configuration '{name}' is not valid JSON: {exc}") from exc
                if not isinstance(value, dict):
                    raise InvalidInput(f"configuration '{name}' must be a JSON object")
                configuration.clear()
                configuration.update(value)
                return configuration
            text = json.dumps(configuration, indent=2, default=str)
            self._store.tasks.set_configuration(self._task_id, Configuration(
                name=name, text=text, description=description))
            return configuration
        if isinstance(configuration, (str, Path)):
            path = Path(configuration)
            stored = self._stored_configs.get(name) if self._remote else None
            if stored is not None:
                folder = Path(tempfile.mkdtemp(prefix="tunehouse-config-"))
                local = folder / path.name
                local.write_text(stored.text)
                return str(local) if isinstance(configuration, str) else local
            try:
                text = path.read_text()
            except OSError as exc:
                raise InvalidInput(f"cannot read configuration file {path}: {exc}") from exc
            self._store.tasks.set_configuration(self._task_id, Configuration(
                name=name, text=text, description=description))
            return configuration
        raise InvalidInput("connect_configuration() takes a dict or a file path, not "
                           f"{type(configuration).__name__}")

    # ================================================================ set / get
    def set_parameters(self, values: Mapping[str, Any], description: str = "") -> None:
        """See :meth:`tunehouse.sdk.task.Task.set_parameters`."""
        new: list[Parameter] = []
        for key, value in values.items():
            section, name = params.split_full_name(str(key))
            if isinstance(value, Mapping) and value:
                new.extend(params.to_parameter(section, f"{name}.{leaf.name}", leaf.value,
                                               description)
                           for leaf in params.iter_leaves(value))
            else:
                new.append(params.to_parameter(section, name, value, description))
        if new:
            self._store.tasks.set_parameters(self._task_id, new)
            self._remember(new)

    def get_parameters(self, cast: bool = True) -> dict[str, Any]:
        """See :meth:`tunehouse.sdk.task.Task.get_parameters`."""
        result = {}
        for param in self._store.tasks.get_parameters(self._task_id):
            key = params.full_name(param.section, param.name)
            result[key] = params.decode(param) if cast else param.value
        return result

    def get_configuration_object(self, name: str) -> str | None:
        """See :meth:`tunehouse.sdk.task.Task.get_configuration_object`."""
        for config in self._store.tasks.get_configurations(self._task_id):
            if config.name == name:
                return config.text
        return None
