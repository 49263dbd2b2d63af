"""A real MariaDB server for tests: its own datadir in a temp dir, its own free port.

    server = MariaDB(tmp_dir).start()      # ~1 s
    server.execute("CREATE DATABASE x")
    server.stop()

Federation tests start several with distinct ``server_id`` and ``extra_args`` (binary log,
``--replicate-do-table``). ``start()`` after ``stop()`` restarts the same server (same
datadir, users and port), for tests of a server that goes away and comes back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pymysql

from support.ports import free_port

USER, PASSWORD = "onekit", "onekit-test-pw"


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: MariaDB tests need the Debian package mariadb-server "
            "(`make setup` installs it)"
        )
    return path


class MariaDB:
    def __init__(self, base: Path, server_id: int = 1, extra_args: tuple[str, ...] = ()):
        self.base = Path(base)
        self.datadir = self.base / "data"
        self.socket = self.base / "mysqld.sock"
        self.tmpdir = self.base / "tmp"
        self.port = free_port()
        self.server_id = server_id
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.user = ["--user=root"] if os.geteuid() == 0 else []

    def start(self, timeout: float = 30.0) -> MariaDB:
        self.base.mkdir(parents=True, exist_ok=True)
        # A tmpdir of its own: a starting mariadbd deletes the #sql* temp files it finds in its
        # tmpdir, which breaks a server being installed beside it if they share /tmp.
        self.tmpdir.mkdir(exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            self._install()
        self.log = open(self.base / "mariadbd.log", "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                _binary("mariadbd"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--tmpdir={self.tmpdir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={self.base / 'mariadbd.pid'}",
                f"--server-id={self.server_id}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                *self.user,
                *self.extra_args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_and_add_user(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _install(self) -> None:
        install = subprocess.run(
            [
                _binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.datadir}",
                *self.user,
                "--auth-root-authentication-method=normal",
                f"--tmpdir={self.tmpdir}",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed ({install.returncode}) in {self.datadir}:\n"
                f"{install.stdout[-1500:]}{install.stderr[-1500:]}"
            )

    def _wait_and_add_user(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = pymysql.connect(unix_socket=str(self.socket), user="root", password="")
                break
            except pymysql.err.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.base / "mariadbd.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"mariadbd did not start:\n{tail}") from None
                time.sleep(0.05)
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION")
        conn.close()

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            database=database,
            autocommit=True,
        )

    def execute(self, sql: str, database: str | None = None) -> list[tuple]:
        conn = self.connect(database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "log", None):
            self.log.close()
