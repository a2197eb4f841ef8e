"""Talking to ShareHub's API with the standard library only (one package fewer for an agency to
vet), and turning every way a call can fail into one line an agency's IT team can act on.

Privacy and secrets: messages name the status, the host and the API's own error text (which never
quotes a row value); never the token, and never a request body.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import platform
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sharehub_bridge import __version__

USER_AGENT = (
    f"sharehub-bridge/{__version__} (Python {platform.python_version()}; {platform.system()})"
)
DEFAULT_TIMEOUT_SECONDS = 60.0
_ERROR_TEXT_CHARS = 1000
# Keys of an API error document whose messages stand on their own, without the key's name.
_UNNAMED_FIELDS = ("", "detail", "non_field_errors", "problems")


class ShareHubError(Exception):
    """A call to ShareHub failed; str() is one line saying what happened and what to do.

    `retryable`: the network or the server had a passing problem, so the same call may work if
    made again (a chunk is retried; anything else is reported)."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is reported, never followed: urllib would send the token on to wherever it
    points, and turn an upload into a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        location = urllib.parse.urlsplit(newurl)
        raise ShareHubError(
            f"ShareHub's address answered with a redirect (HTTP {code}) to "
            f"{location.scheme}://{location.netloc}. Use that address as --url."
        )


def base_url_check(url: str) -> str:
    """The ShareHub address as given (with or without /api/v1), checked; https unless the
    server is on this machine."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ShareHubError(
            "The --url must be ShareHub's address, such as https://sharehub.example.org."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ShareHubError(
            "The --url must start with https:// so the extract travels encrypted; plain http is "
            "allowed only to a ShareHub on this machine."
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api/v1"):
        path = path[: -len("/api/v1")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ShareHubClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        ca_bundle: Path | None = None,
    ):
        self.base_url = base_url_check(url)
        self.host = urllib.parse.urlsplit(self.base_url).netloc
        self._token = token
        self.timeout = timeout
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        # Proxies come from the usual HTTPS_PROXY / NO_PROXY settings (ProxyHandler is default).
        self._opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=context)
        )

    def api_url(self, path: str) -> str:
        return f"{self.base_url}/api/v1/{path.lstrip('/')}"

    def get(self, path: str, *, not_found: str = "") -> Any:
        return self.call("GET", path, not_found=not_found)

    def post(self, path: str, body: dict[str, Any] | None = None, *, not_found: str = "") -> Any:
        return self.call("POST", path, body=body, not_found=not_found)

    def put_bytes(
        self, path: str, data: bytes, *, headers: dict[str, str], not_found: str = ""
    ) -> Any:
        return self.call(
            "PUT",
            path,
            data=data,
            headers={"Content-Type": "application/octet-stream", **headers},
            not_found=not_found,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        not_found: str = "",
    ) -> Any:
        request_headers = {
            "Authorization": f"Token {self._token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        if body is not None:
            data = json.dumps(body).encode()
            request_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked: base_url_check
            self.api_url(path), data=data, method=method, headers=request_headers
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw_error = _read_quietly(error)
            raise self._http_error(error.code, raw_error, not_found=not_found) from None
        except urllib.error.URLError as error:
            raise self._connection_error(error.reason) from None
        except (OSError, http.client.HTTPException) as error:
            raise self._connection_error(error) from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ShareHubError(
                f"{self.host} answered (HTTP {status}) with something other than ShareHub's "
                "API: check --url is ShareHub's address, and that no proxy is answering instead."
            ) from None

    def _http_error(self, status: int, raw: bytes, *, not_found: str) -> ShareHubError:
        detail = api_error_text(raw)
        if status == 401:
            message = (
                "ShareHub did not accept the API token (HTTP 401): it is wrong, expired or "
                "revoked. Create a new token on ShareHub (your agency's API tokens page)."
            )
        elif status == 403:
            message = (
                "The API token is not allowed to do this (HTTP 403): use a token of an agency "
                "admin of the dataset's agency."
            )
            if detail:
                message += f" ShareHub says: {detail}"
        elif status == 404:
            message = not_found or (
                "ShareHub has no such address (HTTP 404): check --url is ShareHub's address."
            )
        elif status == 413:
            message = (
                "ShareHub or a proxy on the way refused the upload as too large (HTTP 413). "
                "Ask ShareHub's administrators about the upload limit."
            )
        elif status == 429 or status >= 500:
            message = (
                f"ShareHub could not answer just now (HTTP {status}). Try again in a few "
                "minutes; if it goes on, tell ShareHub's administrators."
            )
        else:
            message = f"ShareHub refused the request (HTTP {status})" + (
                f": {detail}" if detail else "."
            )
        return ShareHubError(message, status=status, retryable=status == 429 or status >= 500)

    def _connection_error(self, reason: object) -> ShareHubError:
        host = self.host
        if isinstance(reason, ShareHubError):
            return reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return ShareHubError(
                f"The TLS certificate of {host} could not be verified "
                f"({reason.verify_message}). If your network inspects TLS, give its CA "
                "certificates with --ca-bundle FILE."
            )
        if isinstance(reason, ssl.SSLError):
            return ShareHubError(
                f"The TLS connection to {host} failed ({reason.reason or 'handshake'}). Check "
                "--url, and any proxy between this machine and ShareHub.",
                retryable=True,
            )
        if isinstance(reason, socket.gaierror):
            return ShareHubError(
                f"The name {urllib.parse.urlsplit(self.base_url).hostname} could not be found "
                "(DNS). Check --url, and this machine's network and proxy settings."
            )
        if isinstance(reason, TimeoutError | socket.timeout):
            return ShareHubError(
                f"{host} did not answer within {self.timeout:g} seconds. Try again, or give "
                "more time with --timeout.",
                retryable=True,
            )
        if isinstance(reason, ConnectionRefusedError):
            return ShareHubError(
                f"{host} refused the connection: check --url and that ShareHub is running.",
                retryable=True,
            )
        what = type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
        return ShareHubError(
            f"The connection to {host} failed ({what}). Check this machine's network, and run "
            "the same command again.",
            retryable=True,
        )


def _read_quietly(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""


def api_error_text(raw: bytes) -> str:
    """The API's error document as one line: `{"detail": ...}` or `{"field": ["..."]}` (the
    platform's messages say what to fix and quote no row value). Non-JSON bodies (a proxy's HTML
    page) are not shown."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    parts: list[str] = []

    def collect(value: Any, field: str) -> None:
        if isinstance(value, str):
            parts.append(value if field in _UNNAMED_FIELDS else f"{field}: {value}")
        elif isinstance(value, list):
            for item in value:
                collect(item, field)
        elif isinstance(value, dict):
            for key, item in value.items():
                collect(item, key if field in ("", "detail") else field)

    collect(data, "")
    return " ".join(parts)[:_ERROR_TEXT_CHARS]
