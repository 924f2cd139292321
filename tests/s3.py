"""An S3-compatible server on loopback (moto's server mode), as a real endpoint for boto3."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
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

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=s3_client_config(),
        )


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
