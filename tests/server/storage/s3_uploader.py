"""A process storing one file in S3 as the server does (S3BlobStore.put_file), in parts
of 5 MiB sent one at a time; once the first part is stored it says so and stops itself
(SIGSTOP), for the test to kill it there: a multipart upload begun and never finished.

``python -m tests.server.storage.s3_uploader URL BUCKET KEY FILE``
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig

from uhealthsec.server.storage.blobs import S3BlobStore, s3_client_config

PART = 5 * 1024 * 1024  # the smallest part S3 accepts (but the last)
ONE_PART_AT_A_TIME = TransferConfig(
    multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=1
)


def main(url: str, bucket: str, key: str, path: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="eu-west-3",
        aws_access_key_id="uhealthsec-test",
        aws_secret_access_key="uhealthsec-test-secret",
        config=s3_client_config(),
    )

    def part_stored(**_: Any) -> None:
        print("part stored", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)

    client.meta.events.register("after-call.s3.UploadPart", part_stored)
    S3BlobStore(client, bucket, transfer=ONE_PART_AT_A_TIME).put_file(key, Path(path))
    print("finished", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
