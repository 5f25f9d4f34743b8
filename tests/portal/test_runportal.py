"""manage.py runportal: the links in emails point at the address it serves, or it refuses clearly."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from portal.management.commands import runportal
from portal.management.commands.runportal import public_base_url_for


@pytest.mark.parametrize(
    "addr,url",
    [
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("8765", "http://127.0.0.1:8765"),  # runserver's own default host
        ("portal.local:9000", "http://portal.local:9000"),
        ("[::1]:8001", "http://[::1]:8001"),
    ],
)
def test_the_public_url_follows_the_address(addr, url):
    assert public_base_url_for(addr=addr) == url


@pytest.mark.parametrize("addr", ["0.0.0.0:8000", "[::]:8000"])
def test_an_address_nobody_can_open_is_refused_naming_the_setting(addr):
    with pytest.raises(CommandError, match="set PUBLIC_BASE_URL"):
        public_base_url_for(addr=addr)


def test_a_bad_address_is_refused():
    with pytest.raises(CommandError, match="HOST:PORT"):
        public_base_url_for(addr="localhost:web")


class _Started:
    """Stands in for the three processes (this test is about what they are given, not running them)."""

    def __init__(self) -> None:
        self.envs: list[dict] = []

    def __call__(self, args, env=None, **kwargs):
        self.envs.append(env)
        return object()


@pytest.mark.django_db
def test_every_process_gets_the_derived_url_when_none_is_set(monkeypatch, settings):
    # Before: web served on 8765 while every email linked to http://127.0.0.1:8000.
    started = _Started()
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setattr(runportal.subprocess, "Popen", started)
    monkeypatch.setattr(runportal.Command, "_supervise", lambda self, processes: None)
    out = io.StringIO()
    call_command("runportal", "--addr", "127.0.0.1:8765", "--no-demo", stdout=out)
    assert [env["PUBLIC_BASE_URL"] for env in started.envs] == ["http://127.0.0.1:8765"] * 3
    assert settings.PUBLIC_BASE_URL == "http://127.0.0.1:8765"
    assert "running at http://127.0.0.1:8765/" in out.getvalue()


@pytest.mark.django_db
def test_a_url_that_is_set_is_kept(monkeypatch):
    started = _Started()
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://rights.example.org")
    monkeypatch.setattr(runportal.subprocess, "Popen", started)
    monkeypatch.setattr(runportal.Command, "_supervise", lambda self, processes: None)
    call_command("runportal", "--addr", "0.0.0.0:8000", "--no-demo", stdout=io.StringIO())
    assert {env["PUBLIC_BASE_URL"] for env in started.envs} == {"https://rights.example.org"}
