"""An S3-compatible endpoint for tests and benchmarks: moto's server in a subprocess on a
loopback port, or the store named by ``TUNEHOUSE_TEST_S3``.

``TUNEHOUSE_TEST_S3`` is one URL, ``http[s]://ACCESS_KEY:SECRET_KEY@HOST:PORT/BUCKET``,
optionally ``?region=REGION`` (default ``us-east-1``); key and secret are URL-encoded
where they hold ``:``, ``@`` or ``/``. The bucket must exist; every test writes under a
prefix of its own (``test-<random>``) and removes nothing else (docs/testing.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from tests.helpers.server import free_port
from tests.helpers.wait import wait_until

ENV = "TUNEHOUSE_TEST_S3"


@dataclass(frozen=True)
class S3Target:
    """An S3-compatible endpoint, its keys and a bucket."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"

    def location(self, prefix: str | None = None) -> str:
        """``s3://bucket/prefix``, a fresh prefix when none is given."""
        return f"s3://{self.bucket}/{prefix or 'test-' + uuid.uuid4().hex[:12]}"

    def settings(self, location: str | None = None) -> dict[str, Any]:
        """The tunehouse settings (``config.json`` keys) of a store in this bucket."""
        return {"artifacts": location or self.location(), "s3_endpoint_url": self.endpoint,
                "s3_region": self.region, "s3_access_key_id": self.access_key,
                "s3_secret_access_key": self.secret_key}

    def env(self, location: str | None = None) -> dict[str, str]:
        """The same settings as environment variables."""
        names = {"artifacts": "TUNEHOUSE_ARTIFACTS", "s3_endpoint_url": "TUNEHOUSE_S3_ENDPOINT_URL",
                 "s3_region": "TUNEHOUSE_S3_REGION",
                 "s3_access_key_id": "TUNEHOUSE_S3_ACCESS_KEY_ID",
                 "s3_secret_access_key": "TUNEHOUSE_S3_SECRET_ACCESS_KEY"}
        return {names[k]: str(v) for k, v in self.settings(location).items()}

    def client(self) -> Any:
        """A boto3 client of the endpoint (for checks behind tunehouse's back)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)


def parse_target(url: str) -> S3Target:
    """The :class:`S3Target` of a ``TUNEHOUSE_TEST_S3`` value."""
    parts = urlsplit(url)
    bucket = parts.path.strip("/")
    if parts.scheme not in ("http", "https") or not parts.hostname or not bucket \
            or not parts.username or not parts.password:
        raise ValueError(f"{ENV} must be http[s]://KEY:SECRET@HOST:PORT/BUCKET[?region=R]")
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    region = parse_qs(parts.query).get("region", ["us-east-1"])[0]
    return S3Target(endpoint=f"{parts.scheme}://{netloc}", access_key=unquote(parts.username),
                    secret_key=unquote(parts.password), bucket=bucket, region=region)


@contextmanager
def moto_server(log_dir: Path) -> Iterator[S3Target]:
    """moto's S3 server in a subprocess on a free loopback port, with a bucket."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"moto-{port}.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(8 * 1024 * 1024)})
        try:
            def up() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited: {(log_dir / log.name).read_text()}")
                try:
                    return httpx.get(endpoint + "/moto-api/", timeout=2).status_code < 500
                except httpx.TransportError:
                    return False

            wait_until(up, 60, "moto_server answers")
            target = S3Target(endpoint=endpoint, access_key="testing", secret_key="testing",
                              bucket="tunehouse-test")
            target.client().create_bucket(Bucket=target.bucket)
            yield target
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def s3_endpoint(log_dir: Path) -> Iterator[S3Target]:
    """``TUNEHOUSE_TEST_S3``'s store when set, else a moto server."""
    url = os.environ.get(ENV)
    if url:
        yield parse_target(url)
        return
    with moto_server(log_dir) as target:
        yield target
