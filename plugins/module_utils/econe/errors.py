"""EC2's errors: AWS's code (what clients switch on), a message, and the HTTP status.

Clients retry a 5xx and never a 4xx (botocore retries 500 and 503 up to 5 times), so every
refusal of a request is a 400 with AWS's code; AuthFailure is 401 and UnauthorizedOperation
403, as AWS answers them. 4.6's econe answered its own client errors with 500.
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import OneError


class Ec2Error(OneError):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.http_status = status


def missing(name: str) -> Ec2Error:
    return Ec2Error("MissingParameter", f"The request must contain the parameter {name}")


def invalid(name: str, value: object, why: str) -> Ec2Error:
    shown = str(value)[:64]
    return Ec2Error(
        "InvalidParameterValue", f"Value ({shown}) for parameter {name} is invalid. {why}"
    )
