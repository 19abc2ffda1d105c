"""Model registry from the SDK: :class:`OutputModel` registers, :class:`InputModel` fetches.

A model version is one blob in the artifact store (content-addressed by sha256) plus a
:class:`~tunehouse.store.records.Model` record. A single file (``model.keras``,
``weights.h5``) is stored as it is; a folder (a SavedModel) is stored as a reproducible
``tar.gz`` (sorted entries, zeroed times and owners, so the same content always has the
same hash). Models that share a name are versions ``1, 2, 3, ...`` of one model; the store
numbers them. The Keras integration (:mod:`tunehouse.integrations.keras`) uses
:class:`OutputModel` for every save it sees.

Example::

    from tunehouse import Task, OutputModel, InputModel

    task = Task.init(project_name="examples/mnist", task_name="keras cnn")
    model.save("cnn.keras")
    OutputModel(name="cnn", framework="keras", tags=["baseline"]).update_weights("cnn.keras")

    path = InputModel(name="cnn", stage="production").get_local_copy()
    reloaded = keras.models.load_model(path)
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunehouse.errors import InvalidInput, TunehouseError
from tunehouse.sdk.state import RUN_STATE
from tunehouse.settings import Settings
from tunehouse.store.base import Store
from tunehouse.store.records import Model, ModelCreate, ModelUpdate, Task, TaskType

#: The configuration of a search's controller that names its base task (``hpo.config``'s
#: ``CONFIG_NAME``; the SDK sits below the hpo package, a test checks they agree).
SEARCH_CONFIG = "hpo"
SEARCH_BASE_KEY = "base_task_id"
ARCHIVE_TAR_GZ = "tar.gz"
CACHE_DIR = "models-cache"
_CHUNK = 1 << 20


def default_model_name(store: Store, task: Task) -> str:
    """The name of a task's output models when none is given: the task's name; for a
    search trial (a child of an ``optimizer`` task), the name of the search's base task,
    so the baseline and every trial register versions of one model, to be compared and
    promoted. Falls back to the task's name when the search cannot be read."""
    if not task.parent_id:
        return task.name
    try:
        parent = store.tasks.get_task(task.parent_id)
        if parent.type is not TaskType.optimizer:
            return task.name
        texts = {c.name: c.text for c in store.tasks.get_configurations(parent.id)}
        base_id = json.loads(texts.get(SEARCH_CONFIG) or "{}").get(SEARCH_BASE_KEY)
        if not isinstance(base_id, str) or not base_id:
            return task.name
        return store.tasks.get_task(base_id).name
    except (TunehouseError, ValueError, AttributeError):
        return task.name


class OutputModel:
    """A model produced by a task: each :meth:`update_weights` stores a new version.

    Args:
        task: The producing task (default: ``Task.current_task()``).
        name: Model name (default: :func:`default_model_name`, the task's name, or for a
            search trial its search's base task's name). Versions are numbered per name.
        framework: ``keras``, ``tensorflow``, ... (free text).
        tags: Tags of every version registered through this object.
        comment: Comment of every version registered through this object.

    Raises:
        InvalidInput: No task was given and none is running.
    """

    def __init__(self, task: Any = None, name: str | None = None, framework: str | None = None,
                 tags: list[str] | None = None, comment: str | None = None) -> None:
        if task is None:
            task = RUN_STATE.current_task()
        if task is None:
            raise InvalidInput("OutputModel needs a task: call Task.init() first or pass task=")
        self.task = task
        self.name = name
        self.framework = framework or ""
        self.tags = list(tags or [])
        self.comment = comment or ""
        self.model: Model | None = None

    @property
    def store(self) -> Store:
        store: Store = self.task.store
        return store

    @property
    def id(self) -> str | None:
        """Id of the last version registered through this object."""
        return self.model.id if self.model else None

    @property
    def version(self) -> int | None:
        return self.model.version if self.model else None

    def update_weights(self, weights_filename: str | os.PathLike[str], *, format: str = "",
                       metadata: dict[str, Any] | None = None) -> Model:
        """Upload a model file or folder and register it as the next version.

        Args:
            weights_filename: A file (``.keras``, ``.h5``, ...) or a folder (SavedModel).
            format: Format recorded on the version (``keras``, ``saved_model``, ...).
            metadata: Extra JSON data stored with the version.

        Returns:
            The new model version.

        Raises:
            InvalidInput: The path does not exist or the name is not acceptable.
        """
        path = Path(os.fspath(weights_filename))
        if not path.exists():
            raise InvalidInput(f"model path {str(path)!r} does not exist")
        record = self.store.tasks.get_task(self.task.id)
        blob_meta: dict[str, Any] = {"filename": path.name, "source_path": str(path.resolve())}
        with contextlib.ExitStack() as stack:
            if path.is_dir():
                archive = stack.enter_context(_archive_folder(path))
                blob_meta["archive"] = ARCHIVE_TAR_GZ
                stream = stack.enter_context(open(archive, "rb"))
            else:
                blob_meta["archive"] = None
                stream = stack.enter_context(open(path, "rb"))
            blob = self.store.artifacts.put_blob(stream)
        try:
            spec = ModelCreate(
                name=self.name or default_model_name(self.store, record),
                framework=self.framework,
                project=record.project,
                task_id=record.id,
                sha256=blob.sha256,
                size=blob.size,
                format=format,
                tags=self.tags,
                comment=self.comment,
                metadata={**(metadata or {}), **blob_meta},
            )
        except ValidationError as exc:
            raise InvalidInput(f"invalid model: {_first_error(exc)}") from exc
        self.model = self.store.models.create_model(spec)
        return self.model

    def publish(self) -> Model:
        """Publish the last registered version: it can no longer be edited."""
        self.model = self.store.models.update_model(self._require_model().id, ModelUpdate(published=True))
        return self.model

    def set_stage(self, stage: str) -> Model:
        """Point stage alias ``stage`` (e.g. ``production``) at the last registered version."""
        model = self._require_model()
        self.model = self.store.models.set_model_stage(model.name, stage, model.version)
        return self.model

    def _require_model(self) -> Model:
        if self.model is None:
            raise InvalidInput("no model version registered yet: call update_weights() first")
        return self.model


class InputModel:
    """A registered model version to load: by id, or by name and version or stage.

    Args:
        model_id: Id of one version.
        name: Model name; with ``version`` or ``stage`` picks that version, else the latest.
        version: Version number.
        stage: Stage alias such as ``production``.
        store: Store to read from (default: the current task's, else the configured one).
        settings: Settings whose ``home`` holds the download cache (default: the current
            task's, else ``Settings.from_env()``).

    Raises:
        InvalidInput: Neither ``model_id`` nor ``name`` was given.
        NotFound: No such model, version or stage.
    """

    def __init__(self, model_id: str | None = None, name: str | None = None,
                 version: int | None = None, stage: str | None = None, *,
                 store: Store | None = None, settings: Settings | None = None) -> None:
        if not model_id and not name:
            raise InvalidInput("InputModel needs a model_id or a name")
        if version is not None and stage:
            raise InvalidInput("give a version or a stage, not both")
        task = RUN_STATE.current_task() if store is None or settings is None else None
        if settings is None:
            settings = task.settings if task is not None else Settings.from_env()
        self.settings = settings
        self._owns_store = False
        if store is None and task is not None:
            store = task.store
        if store is None:
            from tunehouse.client import open_store

            store = open_store(settings)
            self._owns_store = True
        self.store: Store = store
        if model_id:
            self.model = store.models.get_model(model_id)
        else:
            assert name is not None
            self.model = store.models.find_model(name, version=version, stage=stage)

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> int:
        return self.model.version

    @property
    def framework(self) -> str:
        return self.model.framework

    def close(self) -> None:
        """Close the store this object opened itself (not one it was given)."""
        if self._owns_store:
            self.store.close()
            self._owns_store = False

    def get_local_copy(self) -> str:
        """Download (once) into ``<home>/models-cache/<sha256>/`` and return a loadable path:
        the model file, or the extracted folder for a SavedModel.

        Raises:
            TunehouseError: The downloaded content does not match the recorded sha256.
        """
        filename = _safe_filename(self.model.metadata.get("filename") or self.model.name)
        cache_root = self.settings.home / CACHE_DIR
        target = cache_root / self.model.sha256
        if (target / filename).exists():
            return str(target / filename)
        cache_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache_root))
        try:
            download = staging / ".download"
            self._download(download)
            if self.model.metadata.get("archive") == ARCHIVE_TAR_GZ:
                _extract(download, staging, filename)
                download.unlink()
            else:
                download.rename(staging / filename)
            try:
                os.replace(staging, target)
            except OSError:
                if not (target / filename).exists():  # another process won the race
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(target / filename)

    def _download(self, dest: Path) -> None:
        digest = hashlib.sha256()
        with open(dest, "wb") as out:
            for chunk in self.store.artifacts.open_blob(self.model.sha256):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != self.model.sha256:
            raise TunehouseError(
                f"model {self.model.name} v{self.model.version}: downloaded content does not "
                f"match sha256 {self.model.sha256}"
            )


def _safe_filename(name: str) -> str:
    base = os.path.basename(str(name).replace("\\", "/")).strip()
    if base in ("", ".", ".."):
        return "model"
    return base


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err.get("loc", ()))
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg"))


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


@contextlib.contextmanager
def _archive_folder(folder: Path) -> Any:
    """A reproducible tar.gz of ``folder`` in a temporary file (removed afterwards)."""
    fd, name = tempfile.mkstemp(prefix="tunehouse-model-", suffix=".tar.gz")
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(str(folder), arcname=folder.name, filter=_normalize)
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _extract(archive: Path, dest: Path, expected_root: str) -> None:
    with tarfile.open(archive, mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    if not (dest / expected_root).is_dir():
        raise TunehouseError(f"model archive does not contain the folder {expected_root!r}")
