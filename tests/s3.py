"""An S3-compatible server on loopback (moto's server mode), as a real endpoint for boto3."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from uhealthsec.server.storage.blobs import s3_client_config


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str
    #: moto accepts any credentials; real ones come from the operator's environment.
    access_key_id: str = "uhealthsec-test"
    secret_access_key: str = "uhealthsec-test-secret"
    region: str = "eu-west-3"

    def client(self, config=None):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=config or s3_client_config(),
        )

    def settings(self) -> dict[str, object]:
        """The server's settings for this bucket."""
        return {
            "blob_store": "s3",
            "s3_bucket": self.bucket,
            "s3_endpoint_url": self.url,
            "s3_region": self.region,
            "s3_access_key_id": self.access_key_id,
            "s3_secret_access_key": self.secret_access_key,
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server: str) -> S3Endpoint:
    """A fresh bucket for one test."""
    endpoint = S3Endpoint(s3_server, f"uhs-{secrets.token_hex(6)}")
    endpoint.client().create_bucket(
        Bucket=endpoint.bucket,
        CreateBucketConfiguration={"LocationConstraint": endpoint.region},
    )
    return endpoint


class MotoProcess:
    """moto's S3 server in a process of its own, which a test can stop (SIGSTOP: the
    store hangs, connections open but nothing answers) and continue."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _MOTO_PROCESS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # werkzeug logs every request there; nothing reads it.
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        # The process prints its port once it listens.
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def bucket(self) -> S3Endpoint:
        endpoint = S3Endpoint(self.url, f"uhs-{secrets.token_hex(6)}")
        endpoint.client().create_bucket(
            Bucket=endpoint.bucket,
            CreateBucketConfiguration={"LocationConstraint": endpoint.region},
        )
        return endpoint

    @contextmanager
    def hung(self) -> Iterator[None]:
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.kill()
        self.process.wait(timeout=10)


_MOTO_PROCESS = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def moto_process() -> Iterator[MotoProcess]:
    moto = MotoProcess()
    yield moto
    moto.stop()
