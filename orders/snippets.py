"""Copy-ready connection examples for a customer's own proxy: a proxy URL, curl, Python
(requests) and Node, each filled in with the host, port and credentials it connects with.

The order page shows them for the order's first proxy, the sub-user page for the sub-user;
the text is built here, once, so every page and test sees the same snippets.
"""

import json
from urllib.parse import quote

# An address that echoes the caller's IP: the customer sees the proxy's exit address.
TEST_URL = "https://api.ipify.org?format=json"
SOCKS_PROTOCOLS = ("socks5", "socks4")


def proxy_url(*, host: str, port: int, username: str = "", password: str = "", protocol: str = "http") -> str:
    """`scheme://user:pass@host:port`, credentials percent-encoded; `host:port` alone when the
    proxy takes none (IP authorization). SOCKS URLs resolve names through the proxy (`socks5h`);
    an "HTTPS" proxy is an HTTP proxy that tunnels TLS (CONNECT), so its URL is `http://`."""
    scheme = {"socks5": "socks5h", "socks4": "socks4a"}.get(protocol, "http")
    auth = ""
    if username:
        auth = quote(username, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    return f"{scheme}://{auth}{host}:{port}"


def _shell(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _literal(text: str) -> str:
    """A string literal both Python and JavaScript read the same way."""
    return json.dumps(text)


def connection_snippets(
    *, host: str, port: int, username: str = "", password: str = "", protocol: str = "http",
) -> dict[str, str]:
    """{"url", "curl", "python", "node"}: ready to paste, each fetching `TEST_URL` through the proxy."""
    url = proxy_url(host=host, port=port, username=username, password=password, protocol=protocol)
    socks = protocol in SOCKS_PROTOCOLS
    curl = f"curl -x {_shell(url)} {_shell(TEST_URL)}"
    python = "\n".join([
        "# pip install requests" + ("[socks]" if socks else ""),
        "import requests",
        "",
        f"proxy = {_literal(url)}",
        f"response = requests.get({_literal(TEST_URL)}, proxies={{\"http\": proxy, \"https\": proxy}}, timeout=30)",
        "print(response.text)",
    ])
    if socks:
        node = "\n".join([
            "// npm install socks-proxy-agent",
            'import https from "node:https";',
            'import { SocksProxyAgent } from "socks-proxy-agent";',
            "",
            f"const agent = new SocksProxyAgent({_literal(url)});",
            f"https.get({_literal(TEST_URL)}, {{ agent }}, (res) => res.pipe(process.stdout));",
        ])
    else:
        node = "\n".join([
            "// npm install undici",
            'import { fetch, ProxyAgent } from "undici";',
            "",
            f"const dispatcher = new ProxyAgent({_literal(url)});",
            f"const response = await fetch({_literal(TEST_URL)}, {{ dispatcher }});",
            "console.log(await response.text());",
        ])
    return {"url": url, "curl": curl, "python": python, "node": node}
