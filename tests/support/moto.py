"""A local EC2 for the cloud-bursting tests: a real ``moto_server`` process on
127.0.0.1 and a free port (the venv's binary), started once per test session and
reset between tests (``POST /moto-api/reset``), never mocked in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from support.ports import free_port

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
# moto accepts any credentials; these only make botocore sign its requests
ACCESS_KEY, SECRET_KEY = "testing", "testing"


class MotoServer:
    """One ``moto_server`` process; ``url`` is its endpoint."""

    def __init__(self, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        self.process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not answer on {self.url}") from None
                time.sleep(0.1)

    def reset(self) -> None:
        """Forget every instance, address and tag (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def client(self, region: str = "us-east-1"):
        import boto3

        return boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def driver_conf(endpoint: str | None, regions: dict[str, dict] | None = None, **extra) -> str:
    """An ``ec2_driver.conf`` (YAML) for hosts named after ``regions``' keys."""
    import yaml

    regions = regions or {"us-east-1": {"capacity": {"m1.small": 5}}}
    doc = {
        "proxy_uri": None,
        "regions": {
            name: {
                "region_name": name,
                "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY,
                **({"endpoint_url": endpoint} if endpoint else {}),
                **region,
            }
            for name, region in regions.items()
        },
        "instance_types": {
            "m1.small": {"cpu": 1, "memory": 1.7},
            "m1.large": {"cpu": 2, "memory": 7.5},
            "m1.xlarge": {"cpu": 4, "memory": 15},
            "t1.micro": {"cpu": 1, "memory": 0.615},
        },
        **extra,
    }
    return yaml.safe_dump(doc, sort_keys=False)


class ThrottlingProxy:
    """An EC2 endpoint in front of moto that answers its first ``throttle`` requests as
    EC2 does when a client calls too often (503, RequestLimitExceeded), then forwards
    every request to moto: moto has no throttling of its own."""

    def __init__(self, target: str, throttle: int):
        import http.server
        import threading

        self.target = target
        self.throttle = throttle
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests += 1
                if proxy.requests <= proxy.throttle:
                    self._answer(503, {"Content-Type": "text/xml"}, THROTTLED)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    proxy.target + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as reply:
                        self._answer(reply.status, dict(reply.headers), reply.read())
                except urllib.error.HTTPError as err:
                    self._answer(err.code, dict(err.headers), err.read())

            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ThrottlingProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


THROTTLED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
    b"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
    b"</Error></Errors><RequestID>throttled</RequestID></Response>"
)
