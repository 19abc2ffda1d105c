"""Scale: a large artifact through tunehouse with S3 storage, against boto3 alone.

Part one (issue 21): a real server (SQLite, blobs in ``s3://``) and an S3 endpoint —
moto's server on a loopback port by default, or the store of ``TUNEHOUSE_TEST_S3``
(``http[s]://KEY:SECRET@HOST:PORT/BUCKET``, docs/testing.md). A file of ``--size`` MiB
(default 1024) is

* uploaded and downloaded by boto3 alone (``upload_file``/``download_file``, the same
  part size and parallelism as tunehouse's client), then
* uploaded as an artifact through tunehouse (``HttpStore``: hashing, the server's plan,
  presigned parts, the server's completion, registering the artifact) and downloaded
  (the server's redirect, then the presigned GET),

and the times, their ratios (target: tunehouse within 20 % of boto3) and the server's
resident memory before, after and at its peak during tunehouse's transfers (target: up
by at most 50 MiB) are printed. Figures only, nothing is asserted.

Run: ``.venv/bin/python benchmarks/scale.py [--size MIB] [--part-mb MIB]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boto3.s3.transfer import TransferConfig  # noqa: E402

from tests.helpers.process_memory import memory_mib, reset_peak  # noqa: E402
from tests.helpers.s3 import S3Target, s3_endpoint  # noqa: E402
from tests.helpers.server import running_server  # noqa: E402
from tunehouse.client.blob_transfer import PARALLEL_PARTS  # noqa: E402
from tunehouse.store.records import ArtifactCreate, TaskCreate  # noqa: E402

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> str:
    """``size`` random bytes at ``path``; answers their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(16 * MIB, left))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def boto3_alone(target: S3Target, path: Path, part: int, scratch: Path) -> tuple[float, float]:
    """Seconds to upload and to download ``path`` with boto3 alone."""
    client = target.client()
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part,
                            max_concurrency=PARALLEL_PARTS)
    key = f"scale-baseline/{uuid.uuid4().hex}"
    start = time.perf_counter()
    client.upload_file(str(path), target.bucket, key, Config=config)
    upload = time.perf_counter() - start
    start = time.perf_counter()
    client.download_file(target.bucket, key, str(scratch / "baseline.out"), Config=config)
    download = time.perf_counter() - start
    client.delete_object(Bucket=target.bucket, Key=key)
    (scratch / "baseline.out").unlink()
    return upload, download


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument("--part-mb", type=int, default=64, help="part size in MiB (64)")
    args = parser.parse_args()
    size, part = args.size * MIB, args.part_mb * MIB
    with tempfile.TemporaryDirectory(prefix="tunehouse-scale-") as tmp:
        scratch = Path(tmp)
        source = scratch / "large.bin"
        print(f"writing {args.size} MiB of random bytes ...", flush=True)
        sha256 = make_file(source, size)
        with s3_endpoint(scratch / "moto") as target:
            print(f"S3 endpoint: {target.endpoint} "
                  f"({'TUNEHOUSE_TEST_S3' if os.environ.get('TUNEHOUSE_TEST_S3') else 'moto'})")
            base_up, base_down = boto3_alone(target, source, part, scratch)
            home = scratch / "server"
            home.mkdir()
            (home / "config.json").write_text(json.dumps(
                {**target.settings(target.location("scale-" + uuid.uuid4().hex[:8])),
                 "s3_part_mb": args.part_mb}))
            with running_server(home) as server, server.store() as store:
                task = store.tasks.create_task(TaskCreate(project="scale", name="large"))
                pid = server.proc.pid
                before = memory_mib(pid)["VmRSS"]
                reset_peak(pid)
                start = time.perf_counter()
                with open(source, "rb") as stream:
                    blob = store.artifacts.put_blob(stream)
                store.artifacts.add_artifact(task.id, ArtifactCreate(
                    name="large.bin", sha256=blob.sha256, size=blob.size))
                th_up = time.perf_counter() - start
                start = time.perf_counter()
                received = hashlib.sha256()
                with open(scratch / "tunehouse.out", "wb") as out:
                    for chunk in store.artifacts.open_blob(blob.sha256):
                        received.update(chunk)
                        out.write(chunk)
                th_down = time.perf_counter() - start
                after = memory_mib(pid)
            assert received.hexdigest() == sha256 == blob.sha256, "content changed on the way"
    print(f"\n{args.size} MiB, parts of {args.part_mb} MiB, {PARALLEL_PARTS} at once")
    print(f"{'':10} {'boto3 alone':>12} {'tunehouse':>12} {'ratio':>8}")
    print(f"{'upload':10} {base_up:>11.2f}s {th_up:>11.2f}s {th_up / base_up:>8.2f}")
    print(f"{'download':10} {base_down:>11.2f}s {th_down:>11.2f}s {th_down / base_down:>8.2f}")
    print("(tunehouse's upload includes hashing the file and registering the artifact; "
          "target: ratio <= 1.20)")
    print(f"server RSS: before {before} MiB, after {after['VmRSS']} MiB, peak "
          f"{after['VmHWM']} MiB (up {after['VmHWM'] - before} MiB at most; target <= 50)")


if __name__ == "__main__":
    main()
