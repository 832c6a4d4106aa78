"""The delivery tests' S3 fixtures: a fresh bucket and IAM user for each test."""

from tests.delivery.conftest import s3_bucket, s3_user

__all__ = ["s3_bucket", "s3_user"]
