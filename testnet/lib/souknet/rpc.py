"""JSON-RPC client for `souk daemon`: one HTTP POST per call, authenticated with the node's cookie
(HTTP Basic), on a socket opened inside the node's network namespace when it has one."""

from __future__ import annotations

import base64
import http.client
import json

from .netns import socket_in_netns


class RPCError(Exception):
    """The node answered with a JSON-RPC error (or with something that is not JSON-RPC)."""

    def __init__(self, node: str, method: str, code, message: str, data=None):
        super().__init__(f"{node}: {method} failed: {message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


def _post(host: str, port: int, body: bytes, auth: str, timeout: float, netns: str | None) -> tuple[int, bytes]:
    sock = socket_in_netns(netns)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock
        conn.request(
            "POST", "/", body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}",
                     "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        sock.close()


def call(host: str, port: int, cookie: str, method: str, params: dict | None = None, timeout: float = 15.0,
         netns: str | None = None, who: str = "node"):
    """Calls `method` and returns its result; raises RPCError, OSError or http.client.HTTPException.
    `cookie` is the content of the node's rpc.cookie; `who` names the node in error messages."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    auth = base64.b64encode(cookie.encode()).decode()
    status, raw = _post(host, port, body, auth, timeout, netns)
    try:
        reply = json.loads(raw)
    except ValueError as e:
        raise RPCError(who, method, status, f"HTTP {status}: {raw[:200]!r}") from e
    if "error" in reply and reply["error"] is not None:
        err = reply["error"]
        raise RPCError(who, method, err.get("code"), err.get("message", "?"), err.get("data"))
    return reply.get("result")
