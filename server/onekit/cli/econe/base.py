"""What every ``econe-*`` command shares: its options, the credentials, the boto3 client,
the errors and the tables.

The commands are the guide's (7.5 "EC2 User Guide"): each is one console script, with the
options of 4.6's commands (``-U/--url``, ``-K/--access-key``, ``-S/--secret-key``; ``-h``)
and what they print (``Success: ImageId ami-00000001``, the describe tables). They talk EC2
Query through boto3, so they are clients like any other (the server sees boto3's requests,
signed with Signature V4).

Credentials, in the guide's order of priority: the options, then ``EC2_ACCESS_KEY`` and
``EC2_SECRET_KEY``, then ``ONE_AUTH`` (the OpenNebula CLI's ``user:password`` file, or the
instance's ``one_auth``). With ``ONE_AUTH`` the command logs in as that user on this
front-end, as every onekit CLI does, and asks the core for the user's EC2 secret (the stored
password hash): 4.6 computed the SHA1 of the password, which onekit does not store.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import (
    AuthenticationError,
    InvalidInput,
    OneError,
)
from ansible_collections.onekit.cloud.plugins.module_utils.econe import access_keys
from onekit.cli.common import Arg, Column, Context, _Parser, http_url, seconds, table
from onekit.cli.multipart import os_reason

DEFAULT_URL = "http://localhost:4567"  # 4.6's EC2QueryClient, when EC2_URL is unset
REGION = "opennebula"  # what the region of a request's credential scope is
URL_VAR, KEY_VAR, SECRET_VAR = "EC2_URL", "EC2_ACCESS_KEY", "EC2_SECRET_KEY"


class Ec2Error(OneError):
    """The server refused the request: AWS's error code and message, as it sent them."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


class ConnectError(OneError):
    """No answer from the server at the URL."""


@dataclass(frozen=True)
class Endpoint:
    """Where the server is and who the caller is."""

    url: str
    access_key: str
    secret_key: str
    timeout: float | None = None


def check_url(url: str) -> str:
    """The server's URL, checked: ``http(s)://host[:port][/path]``."""
    return http_url(url, f"{URL_VAR} (or -U/--url)", DEFAULT_URL)


def resolve(
    args: argparse.Namespace, prog: str, environ: Mapping[str, str] = os.environ
) -> Endpoint:
    """The endpoint of the options, else of the environment, else of ONE_AUTH."""
    url = check_url(args.url or environ.get(URL_VAR) or DEFAULT_URL)
    key, secret = pair(args.access_key, args.secret_key, "-K/--access-key", "-S/--secret-key")
    if key is None:
        key, secret = pair(environ.get(KEY_VAR), environ.get(SECRET_VAR), KEY_VAR, SECRET_VAR)
    if key is None:
        key, secret = one_auth_secret(prog)
    assert secret is not None
    return Endpoint(url, key, secret, args.timeout)


def pair(
    key: str | None, secret: str | None, key_name: str, secret_name: str
) -> tuple[str, str] | tuple[None, None]:
    """Both of an access key and a secret, or neither; one alone is a mistake to name."""
    if not key and not secret:
        return None, None
    if not secret:
        raise InvalidInput(f"{key_name} is given but not {secret_name}: give both, or neither")
    if not key:
        raise InvalidInput(f"{secret_name} is given but not {key_name}: give both, or neither")
    return key, secret


def one_auth_secret(prog: str) -> tuple[str, str]:
    """The user of ONE_AUTH (or the instance's one_auth) and their EC2 secret, read by
    logging in as them on this front-end."""
    ctx = Context(prog, "")
    try:
        session = ctx.session
    except OneError as err:
        raise AuthenticationError(
            f"{err} (the EC2 credentials come from -K and -S, else {KEY_VAR} and "
            f"{SECRET_VAR}, else ONE_AUTH)"
        ) from err
    try:
        name = session.subject.name
        return name, access_keys.password_secret(session, name)
    finally:
        session.db.close()


class Ec2:
    """The boto3 EC2 client of an endpoint, with botocore's errors turned into one-line
    ones (``Ec2Error``, ``ConnectError``)."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint

    @cached_property
    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        # one attempt: a CLI reports a refusal or an unreachable server at once (botocore
        # would retry a refused connection 4 times, with back-off)
        config = Config(
            retries={"total_max_attempts": 1},
            connect_timeout=self.endpoint.timeout or 60,
            read_timeout=self.endpoint.timeout or 60,
        )
        return boto3.session.Session(
            aws_access_key_id=self.endpoint.access_key,
            aws_secret_access_key=self.endpoint.secret_key,
            region_name=REGION,
        ).client("ec2", endpoint_url=self.endpoint.url, config=config)

    def call(self, operation: str, **params: Any) -> dict:
        """``client.<operation>(**params)``: the parsed answer."""
        with self.translated():
            return getattr(self.client, operation)(**params)

    def items(self, operation: str, key: str, **params: Any) -> Iterator[dict]:
        """The items under ``key`` of every page of ``operation`` (its paginator follows
        NextToken when boto3 has one; else the one answer)."""
        with self.translated():
            if not self.client.can_paginate(operation):
                yield from self.call(operation, **params).get(key, [])
                return
            for page in self.client.get_paginator(operation).paginate(**params):
                yield from page.get(key, [])

    @contextmanager
    def translated(self) -> Iterator[None]:
        from botocore import exceptions

        try:
            yield
        except exceptions.ClientError as err:
            error = err.response.get("Error", {})
            code = error.get("Code") or str(err.response["ResponseMetadata"]["HTTPStatusCode"])
            raise Ec2Error(code, error.get("Message", "")) from err
        except exceptions.EndpointConnectionError as err:
            reason = os_reason(err.kwargs.get("error")) or "no connection"
            raise ConnectError(f"cannot connect to {self.endpoint.url}: {reason}") from err
        except (exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError) as err:
            raise ConnectError(f"no answer from {self.endpoint.url}: {err}") from err
        except exceptions.ConnectionClosedError as err:
            raise ConnectError(f"{self.endpoint.url} closed the connection: {err}") from err
        except exceptions.ParamValidationError as err:
            raise InvalidInput(str(err).replace("\n", " ")) from err


Run = Callable[[Ec2, argparse.Namespace], int | None]

CONNECTION = (
    Arg(
        ("-U", "--url"),
        {
            "metavar": "URL",
            "help": f"the EC2 server's URL (default: ${URL_VAR}, else {DEFAULT_URL})",
        },
    ),
    Arg(
        ("-K", "--access-key"), {"metavar": "ID", "help": f"the user's name (default: ${KEY_VAR})"}
    ),
    Arg(
        ("-S", "--secret-key"),
        {
            "metavar": "KEY",
            "help": f"the user's EC2 secret: the password hash (default: ${SECRET_VAR})",
        },
    ),
    Arg(
        ("-T", "--timeout"),
        {
            "metavar": "SECONDS",
            "type": seconds,
            "help": "connection and read timeout (default: 60)",
        },
    ),
)

ENVIRONMENT = f"""\
environment:
  {URL_VAR}         the server's URL, as in etc/econe.conf (http://host:4567)
  {KEY_VAR}  the user's name
  {SECRET_VAR}  the user's EC2 secret (the password hash oneuser show prints)
  ONE_AUTH        without the above: a file user:password; the command logs in as that
                  user on this front-end and uses their secret
"""


@dataclass(frozen=True)
class Command:
    """One econe-* command: its name, usage words, help and what it runs. Called, it is
    the console script: parses argv, runs, and turns an error into one line on stderr
    (``<command>: <message>``) and exit status 1."""

    name: str
    description: str
    run: Run
    arguments: Sequence[Arg] = ()

    def parser(self) -> argparse.ArgumentParser:
        parser = _Parser(
            prog=self.name,
            description=self.description,
            epilog=ENVIRONMENT,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        for argument in (*self.arguments, *CONNECTION):
            parser.add_argument(*argument.names, **argument.options)
        return parser

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        args = self.parser().parse_args(argv)
        try:
            return self.run(Ec2(resolve(args, self.name)), args) or 0
        except OneError as err:
            print(f"{self.name}: {err}", file=sys.stderr)
            return err.exit_code
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # `econe-describe-instances | head`: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0


def show(rows: Iterator[Any] | Sequence[Any], columns: Sequence[Column]) -> None:
    """A describe table: the header, then a row per item (4.6's column names)."""
    print(table(rows, columns))


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``name: value`` lines, as 4.6's create/attach commands print them."""
    for name, value in pairs:
        print(f"{name}: {'' if value is None else value}")


def id_args(values: Sequence[str], what: str) -> list[str]:
    """``i-1,i-2 i-3``: 4.6's comma-separated ID[,ID...], in one argument or several."""
    items = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not items:
        raise InvalidInput(f"no {what} given")
    return items


def state_name(item: Mapping[str, Any], key: str) -> str:
    """``previousState``/``currentState``/``State`` name of an instance item."""
    return str((item.get(key) or {}).get("Name", ""))


def when(value: Any) -> str:
    """A time of an answer (boto3 parses them) as the ISO 8601 the server sent."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "" if value is None else str(value)
