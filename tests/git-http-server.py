#!/usr/bin/env python3
"""A Git smart-HTTP server on 127.0.0.1 for `tests/demo.sh --gitops`: every request runs Git's
own CGI program, `git http-backend`, over the bare repositories under --root (read and push,
no authentication: loopback only). The script counterpart of tests/it/support/git.rs.

    python3 tests/git-http-server.py --root DIR --port PORT
"""

import argparse
import http.server
import os
import subprocess
import sys


def read_body(handler):
    """The request body: Content-Length or chunked (git push sends large packs chunked)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                # Trailers, up to the blank line.
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class GitHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = ""

    def do_GET(self):
        self.run_backend()

    def do_POST(self):
        self.run_backend()

    def run_backend(self):
        path, _, query = self.path.partition("?")
        body = read_body(self)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
            # http-backend refuses pushes from anonymous users unless this is set.
            "REMOTE_USER": "platform-team",
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        if result.stderr:
            sys.stderr.write(result.stderr.decode(errors="replace"))
        out = result.stdout
        head, sep, payload = out.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = out.partition(b"\n\n")
        if not sep:
            self.send_error(500, "git http-backend: no CGI headers")
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="directory of the bare repositories")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    GitHandler.root = os.path.abspath(args.root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), GitHandler)
    sys.stderr.write("serving %s on http://127.0.0.1:%d/\n" % (GitHandler.root, args.port))
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
