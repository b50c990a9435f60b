"""The emulated OCI Object Storage: BAR files in buckets, per region and namespace.

One store can serve several OAC instances: a snapshot created on one instance is a BAR object
that another instance registers (the environment refresh, the DR drill). A bucket is named by
``(region, namespace, bucket)``; an instance fills in its own region and namespace when a
snapshot's storage names none, as OAC does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from airflow_provider_oac.emulator.common import rfc3339
from airflow_provider_oac.emulator.config import DEFAULT_NAMESPACE, DEFAULT_REGION

__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_REGION", "BarObject", "BucketKey", "ObjectStore"]


class BucketKey(NamedTuple):
    region: str
    namespace: str
    bucket: str


@dataclass(slots=True)
class BarObject:
    password: str | None = field(repr=False)
    time_created: float
    written_by: str
    #: What the instance held when the snapshot was taken; a restore makes it the instance's.
    content: Any = None
    #: The OAC version of the instance that wrote it (None: placed by the control API, any version).
    version: str | None = None


class ObjectStore:
    """BAR objects by bucket; the caller holds the emulator's lock (shared with the instances)."""

    def __init__(self, lock: threading.RLock):
        self._lock = lock
        self._buckets: dict[BucketKey, dict[str, BarObject]] = {}

    def get(self, key: BucketKey, object_name: str) -> BarObject | None:
        with self._lock:
            return self._buckets.get(key, {}).get(object_name)

    def put(self, key: BucketKey, object_name: str, bar: BarObject) -> None:
        with self._lock:
            self._buckets.setdefault(key, {})[object_name] = bar

    def delete(self, key: BucketKey, object_name: str) -> None:
        with self._lock:
            self._buckets.get(key, {}).pop(object_name, None)

    def listing(self) -> list[dict[str, Any]]:
        """Every object: ``{bucket, object, time_created, written_by, has_password, region,
        namespace}``."""
        with self._lock:
            return [
                {
                    "bucket": key.bucket,
                    "object": object_name,
                    "time_created": rfc3339(bar.time_created),
                    "written_by": bar.written_by,
                    "has_password": bar.password is not None,
                    "version": bar.version,
                    "region": key.region,
                    "namespace": key.namespace,
                }
                for key, bucket in self._buckets.items()
                for object_name, bar in bucket.items()
            ]
