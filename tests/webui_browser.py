#!/usr/bin/env python3
"""webui_browser.py: drives headless Chromium through the DevTools protocol (a minimal
WebSocket client on python3's standard library) against the chat page of a running
`celer serve`: types a message, presses Send, and waits for the streamed answer.
Checks that the page loads, the user's message is shown, and the reply grew over
several polls (it streamed) and finished as non-empty text without an error.
Usage: webui_browser.py --port PORT --chromium PATH. Prints "ok"/"FAIL" lines and
"N passed, N failed"."""
import argparse
import base64
import http.client
import json
import os
import socket
import struct
import subprocess
import tempfile
import time


class DevTools:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, client-masked."""

    def __init__(self, url):
        host_port, path = url[len("ws://"):].split("/", 1)
        host, port = host_port.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += self.sock.recv(4096)
        head, self.buf = reply.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"websocket handshake refused: {head[:200]!r}")
        self.next_id = 0

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("DevTools connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _recv_message(self):
        data = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            data += self._recv_exact(n)
            if b0 & 0x80:
                return data.decode("utf-8")

    def call(self, method, **params):
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            msg = json.loads(self._recv_message())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--chromium", required=True)
    args = p.parse_args()
    passed = failed = 0

    def check(name, cond, detail=""):
        nonlocal passed, failed
        if cond:
            passed += 1
            print(f"ok {name}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name}: {detail}", flush=True)

    profile = tempfile.mkdtemp()
    browser = subprocess.Popen([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        end = time.time() + 60
        while not os.path.exists(port_file) and time.time() < end:
            time.sleep(0.1)
        time.sleep(0.2)
        with open(port_file) as f:
            debug_port = int(f.readline())
        conn = http.client.HTTPConnection("127.0.0.1", debug_port, timeout=30)
        conn.request("GET", "/json/list")
        pages = [t for t in json.loads(conn.getresponse().read()) if t["type"] == "page"]
        dt = DevTools(pages[0]["webSocketDebuggerUrl"])
        dt.call("Page.enable")
        dt.call("Page.navigate", url=f"http://127.0.0.1:{args.port}/")
        end = time.time() + 30
        while time.time() < end and dt.eval("document.readyState") != "complete":
            time.sleep(0.1)
        check("page loads", dt.eval("document.title") == "celer chat", dt.eval("document.title"))
        question = "What is the capital of France?"
        dt.eval("document.getElementById('input').value = " + json.dumps(question) + "; document.getElementById('send').click(); 1")
        lengths, reply, done = [], "", False
        end = time.time() + 120
        while time.time() < end:
            state = dt.eval("(() => { const r = document.getElementById('reply-1');"
                            " return r ? [r.textContent, r.dataset.done || '', r.className] : null; })()")
            if state:
                reply, done = state[0], state[1] == "1"
                if not lengths or lengths[-1] != len(reply):
                    lengths.append(len(reply))
                if done:
                    break
            time.sleep(0.02)
        check("reply streamed in", done and "error" not in dt.eval("document.getElementById('reply-1').className"),
              f"done={done} reply={reply!r}")
        check("reply grew chunk by chunk", len([n for n in lengths if n > 0]) >= 2, f"lengths seen: {lengths}")
        check("reply is text", len(reply.strip()) > 0, repr(reply))
        user = dt.eval("document.querySelector('.msg.user').textContent")
        check("user message shown", user == question, repr(user))
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
