"""Shared fixtures: applications built from explicit settings (never from
the environment of the machine running the tests)."""

from __future__ import annotations

import socket
from typing import Any, Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        # A long breaker reset keeps states stable within one test.
        settings = Settings(**{"breaker_reset_s": 60.0, **overrides})
        client = TestClient(create_app(settings))
        client.__enter__()  # runs the lifespan (start-up and, at exit, shutdown)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
