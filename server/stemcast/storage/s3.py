"""An S3-compatible object store (AWS S3, MinIO, Ceph, R2, ...) through boto3.

Credentials come the standard AWS way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, AWS_PROFILE, an instance role); the endpoint from `--storage-endpoint`
or AWS_ENDPOINT_URL (for a store that is not AWS). Timeouts are short and retries few:
a store that does not answer is said at start-up, not waited on forever.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stemcast.storage.atomic import atomic_target
from stemcast.storage.store import StoreError

CREDENTIALS_FIX = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for "
                   "both `stemcast serve` and `stemcast worker`")


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise StoreError("--storage s3://... needs boto3: pip install 'stemcast[s3]'") from None
    return boto3


class S3Store:
    def __init__(self, bucket: str, prefix: str, endpoint: str | None = None,
                 region: str | None = None) -> None:
        boto3 = _boto3()  # first: without the extra, say how to install it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        self.url = f"s3://{bucket}/{self.prefix}"
        config = Config(connect_timeout=5, read_timeout=30,
                        retries={"max_attempts": 3, "mode": "standard"})
        session = boto3.session.Session()
        self.client = session.client("s3", endpoint_url=self.endpoint, config=config,
                                     region_name=region or session.region_name or "us-east-1")

    @classmethod
    def from_url(cls, url: str, endpoint: str | None = None,
                 region: str | None = None) -> S3Store:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"--storage {url!r} names no bucket; use s3://BUCKET/PREFIX")
        return cls(bucket, prefix, endpoint, region)

    def _explain(self, exc: Exception, doing: str) -> StoreError:
        """The store's error as what went wrong and how to fix it."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import (
            ConnectionError as BotoConnectionError,
        )

        where = f"--storage {self.url}" + (f" at {self.endpoint}" if self.endpoint else "")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return StoreError(f"{where}: no credentials to {doing}; {CREDENTIALS_FIX}")
        if isinstance(exc, EndpointConnectionError | BotoConnectionError):
            return StoreError(f"{where}: cannot reach the store to {doing} ({exc}); check "
                              "--storage-endpoint (or AWS_ENDPOINT_URL) and that the store runs")
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchBucket", "404") and doing == "check the bucket":
                return StoreError(f"{where}: bucket {self.bucket!r} does not exist; create it "
                                  f"(aws s3 mb s3://{self.bucket}) or fix --storage")
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return StoreError(f"{where}: the store refused the credentials to {doing} "
                                  f"({code}); {CREDENTIALS_FIX}, with access to the bucket")
            if code in ("NoSuchKey", "404"):
                return StoreError(f"{where}: no object to {doing}")
            return StoreError(f"{where}: cannot {doing}: {code or exc}")
        return StoreError(f"{where}: cannot {doing}: {exc}")

    def _call(self, doing: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._explain(exc, doing) from exc

    def check(self) -> None:
        self._call("check the bucket", "head_bucket", Bucket=self.bucket)
        # head_bucket passes with read-only rights: write and delete a probe as well.
        probe = self.prefix + ".stemcast-probe"
        self._call("write to the bucket", "put_object", Bucket=self.bucket, Key=probe, Body=b"")
        self._call("delete from the bucket", "delete_object", Bucket=self.bucket, Key=probe)

    def put_file(self, key: str, path: Path) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            raise self._explain(exc, f"upload {key}") from exc
        except S3UploadFailedError as exc:
            raise StoreError(f"--storage {self.url}: cannot upload {key}: {exc}") from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call(f"upload {key}", "put_object", Bucket=self.bucket, Key=self.prefix + key,
                   Body=data)

    def get_file(self, key: str, path: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_target(path) as partial:
                self.client.download_file(self.bucket, self.prefix + key, str(partial))
        except (BotoCoreError, ClientError) as exc:
            raise self._explain(exc, f"download {key}") from exc

    def get_bytes(self, key: str) -> bytes:
        reply = self._call(f"download {key}", "get_object", Bucket=self.bucket,
                           Key=self.prefix + key)
        data: bytes = reply["Body"].read()
        return data

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call(f"list {prefix}", "list_objects_v2", Bucket=self.bucket,
                              Prefix=self.prefix + prefix, **token)
            found += [item["Key"][len(self.prefix):] for item in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(found)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def delete_prefix(self, prefix: str) -> int:
        doomed = self.keys(prefix)
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes 1000 at most
            batch = [{"Key": self.prefix + k} for k in doomed[start:start + 1000]]
            self._call(f"delete {prefix}", "delete_objects", Bucket=self.bucket,
                       Delete={"Objects": batch, "Quiet": True})
        return len(doomed)
