"""What is printed of a URL: scheme, host and port, never credentials, paths or queries."""

from __future__ import annotations

import pytest

from portal_gitops.urls import display_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://portal.example", "https://portal.example"),
        ("https://portal.example:3001/", "https://portal.example:3001"),
        (
            "https://admin:s3cret-token@portal.example:3001/portal-api",
            "https://portal.example:3001",
        ),
        ("http://portal.example/?token=s3cret#frag", "http://portal.example"),
        ("https://[::1]:3001", "https://[::1]:3001"),
        (" https://portal.example \n", "https://portal.example"),
        ("portal.example:3001", "(a URL without a scheme or host)"),
        ("http://portal.example:99999", "(a malformed URL)"),
    ],
)
def test_display_url(url: str, shown: str) -> None:
    assert display_url(url) == shown
