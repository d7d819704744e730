"""Shared fixtures of the Python suite.

`store` runs a test once per kind of object store: `file` (the embedded
default: a temporary folder acting as the bucket), `s3` (a fresh prefix in
the bucket of the S3 server named by FIRN_TEST_S3_ENDPOINT and
FIRN_TEST_S3_BUCKET, with credentials and region from the usual AWS_*
variables) and `azblob` (a fresh prefix in the container
FIRN_TEST_AZBLOB_CONTAINER of the Azure Blob service that
AZURE_STORAGE_CONNECTION_STRING names). scripts/test.sh starts a local S3
server and Azurite and sets them all. Without a server the S3 and Azure
variants skip, unless FIRN_REQUIRE_S3=1 or FIRN_REQUIRE_AZBLOB=1: then they
fail.
"""

import os
import uuid
from pathlib import Path

import pytest

import firn


def s3_settings():
    """(endpoint, bucket) of the test run's S3 server, or None."""
    endpoint = os.environ.get("FIRN_TEST_S3_ENDPOINT", "").strip()
    bucket = os.environ.get("FIRN_TEST_S3_BUCKET", "").strip()
    if endpoint and bucket:
        return endpoint, bucket
    return None


def azblob_container():
    """The test run's Azure Blob container, or None."""
    container = os.environ.get("FIRN_TEST_AZBLOB_CONTAINER", "").strip()
    if container and os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip():
        return container
    return None


class Location:
    """A database location for one test: an object-store URL, options that
    reach it, and local directories under a temporary folder."""

    def __init__(self, kind, root: Path):
        self.kind = kind
        self.root = root
        self.options = {}
        if kind == "file":
            self.objects = root / "objects"
            self.url = f"file://{self.objects}"
        elif kind == "azblob":
            # Account, endpoint and key come from AZURE_STORAGE_CONNECTION_STRING.
            self.objects = None
            self.url = f"azblob://{azblob_container()}/firn-python-tests/{uuid.uuid4().hex}"
        else:
            endpoint, bucket = s3_settings()
            self.objects = None
            self.url = f"s3://{bucket}/firn-python-tests/{uuid.uuid4().hex}"
            # The test run's server wins over a stray AWS_ENDPOINT_URL.
            self.options["s3_endpoint"] = endpoint

    def local(self, name="local") -> Path:
        return self.root / name

    def open(self, local="local", **options) -> firn.Db:
        """Opens the database with local directory `local` (a name under the
        test's temporary folder) and `options` on top of the location's."""
        return firn.open(self.url, self.local(local), **{**self.options, **options})

    def __repr__(self):
        return f"<{self.kind} {self.url}>"


def skip_or_fail(why, require_var):
    """Skips a variant whose server is not configured, or fails it when
    `require_var` is 1 (scripts/test.sh sets it: CI must not skip)."""
    if os.environ.get(require_var) == "1":
        pytest.fail(f"{require_var}=1 but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(params=["file", "s3", "azblob"])
def store(request, tmp_path):
    if request.param == "s3" and s3_settings() is None:
        skip_or_fail(
            "FIRN_TEST_S3_ENDPOINT and FIRN_TEST_S3_BUCKET are not set; run scripts/test.sh, "
            "or point them and AWS_* at an S3 server",
            "FIRN_REQUIRE_S3",
        )
    if request.param == "azblob" and azblob_container() is None:
        skip_or_fail(
            "FIRN_TEST_AZBLOB_CONTAINER and AZURE_STORAGE_CONNECTION_STRING are not set; run "
            "scripts/test.sh, or point them at an Azure Blob container",
            "FIRN_REQUIRE_AZBLOB",
        )
    return Location(request.param, tmp_path)


@pytest.fixture
def file_store(tmp_path):
    """The embedded default only (tests that damage objects on disk)."""
    return Location("file", tmp_path)
