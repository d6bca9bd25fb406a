"""A fake Airbyte source for the process runtime's tests: it speaks the protocol, or breaks it
on purpose, as its config's `mode` says. Standard library only."""
import json
import os
import subprocess
import sys
import time


def emit(message):
    # Raw UTF-8, as orjson (the CDK's serializer) writes it: U+2028 inside a string is not a line break.
    print(json.dumps(message, ensure_ascii=False), flush=True)


def log(text):
    emit({"type": "LOG", "log": {"level": "INFO", "message": text}})


def status(stream, value):
    emit({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "emitted_at": 0,
          "stream_status": {"stream_descriptor": {"name": stream}, "status": value}}})


def main():
    verb = sys.argv[1]
    args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    if verb == "spec":
        emit({"type": "SPEC", "spec": {"connectionSpecification": {
            "type": "object", "properties": {"mode": {"type": "string"}, "api_key": {"type": "string", "airbyte_secret": True}}}}})
        return 0
    path = args["--config"]
    config = json.load(open(path))
    mode = config.get("mode", "ok")
    if verb == "check":
        ok = config.get("api_key") == "sk_good"
        emit({"type": "CONNECTION_STATUS", "connectionStatus": {
            "status": "SUCCEEDED" if ok else "FAILED", **({} if ok else {"message": "401 Unauthorized: the api_key is not valid"})}})
        return 0
    if verb == "discover":
        emit({"type": "CATALOG", "catalog": {"streams": [
            {"name": "people", "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"],
             "source_defined_cursor": True, "default_cursor_field": ["updated_at"], "source_defined_primary_key": [["id"]]}]}})
        return 0
    # read
    if mode == "env":
        mode_bits = oct(os.stat(path).st_mode & 0o777)
        folder_bits = oct(os.stat(os.path.dirname(path)).st_mode & 0o777)
        cmdline = open("/proc/self/cmdline", "rb").read().replace(b"\0", b" ").decode()
        try:
            parent_environ = open("/proc/%d/environ" % os.getppid(), "rb").read().decode(errors="replace")
        except OSError as error:
            parent_environ = "unreadable: %s" % error.strerror
        log(json.dumps({"environ": dict(os.environ), "argv": sys.argv, "cmdline": cmdline, "config_mode": mode_bits,
                        "folder_mode": folder_bits, "config_path": path, "parent_environ": parent_environ, "limits": open("/proc/self/limits").read()}))
        return 0
    if mode == "not_json":
        log("first")
        print("Traceback: printed the config " + json.dumps(config), flush=True)
        return 0
    if mode == "error":
        status("people", "STARTED")
        emit({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": {
            "message": "The API answered 403 Forbidden for /people", "failure_type": "config_error",
            "stream_descriptor": {"name": "people"}}}})
        return 1
    if mode == "hang":
        child = subprocess.Popen(["sleep", "600"])
        log("grandchild %d" % child.pid)
        time.sleep(600)
        return 0
    if mode == "ignore_term":
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("ignoring TERM")
        time.sleep(600)
        return 0
    if mode == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(50 * 1024 * 1024))
    if mode == "long_line":
        sys.stdout.write("x" * (3 * 1024 * 1024))
        sys.stdout.flush()
        time.sleep(600)
        return 0
    if mode == "fetch":
        # Requests through whatever proxy the environment names, as requests and urllib do.
        import http.server
        import threading
        import urllib.request

        class Hello(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"hello from " + self.path.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        for url in config["urls"]:
            url = url.replace("{port}", str(server.server_address[1]))
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    log("fetched %s: %s" % (url, answer.read().decode()))
            except Exception as error:
                log("failed %s: %s" % (url, error))
        return 0
    if mode == "close_and_sleep":
        log("closing my output")
        os.close(1)
        os.close(2)
        time.sleep(600)
        return 0
    if mode == "incomplete":
        status("people", "STARTED")
        emit({"type": "RECORD", "record": {"stream": "people", "emitted_at": 0, "data": {"id": 1, "name": "Only", "updated_at": 1}}})
        status("people", "INCOMPLETE")
        return 0
    if mode == "die_midway" and "--state" not in args:
        # The first read: three records and their state, two more, then the process dies.
        status("people", "STARTED")
        for i in range(1, 4):
            emit({"type": "RECORD", "record": {"stream": "people", "emitted_at": 0, "data": {"id": i, "name": "P%d" % i, "updated_at": i}}})
        emit({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": "people"}, "stream_state": {"updated_at": 3}}}})
        for i in range(4, 6):
            emit({"type": "RECORD", "record": {"stream": "people", "emitted_at": 0, "data": {"id": i, "name": "P%d" % i, "updated_at": i}}})
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "stderr_flood":
        for i in range(20000):
            sys.stderr.write("noise line %d with some padding to make it longer\n" % i)
        sys.stderr.flush()
    state = json.load(open(args["--state"])) if "--state" in args else None
    start = 0
    # Each mode reads back only the shape of state it writes: anything else fails the read.
    try:
        if state and mode == "global":
            assert state[0]["type"] == "GLOBAL" and len(state) == 1
            assert [s["stream_descriptor"]["name"] for s in state[0]["global"]["stream_states"]] == ["people"]
            start = state[0]["global"]["shared_state"]["lsn"]
            assert state[0]["global"]["stream_states"][0]["stream_state"] == {"updated_at": start}
        elif state and mode == "legacy":
            assert isinstance(state, dict)
            start = state["people"]["updated_at"]
        elif state:
            start = state[0]["stream"]["stream_state"]["updated_at"]
    except (AssertionError, KeyError, TypeError, IndexError):
        emit({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": {
            "message": "unexpected state for mode %s: %s" % (mode, json.dumps(state))}}})
        return 1
    status("people", "STARTED")
    status("people", "RUNNING")
    for i in range(start + 1, start + 4):
        emit({"type": "RECORD", "record": {"stream": "people", "emitted_at": 0,
              "data": {"id": i, "name": "Person\u2028%d" % i, "updated_at": i}}})
    if mode == "global":
        emit({"type": "STATE", "state": {"type": "GLOBAL", "global": {"shared_state": {"lsn": start + 3}, "stream_states": [
            {"stream_descriptor": {"name": "people"}, "stream_state": {"updated_at": start + 3}},
            {"stream_descriptor": {"name": "other"}, "stream_state": {"updated_at": 99}}]}}})
    elif mode == "legacy":
        emit({"type": "STATE", "state": {"data": {"people": {"updated_at": start + 3}}}})
    else:
        emit({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": "people"}, "stream_state": {"updated_at": start + 3}}}})
    emit({"type": "CONTROL", "control": {"type": "CONNECTOR_CONFIG", "emitted_at": 0,
          "connectorConfig": {"config": dict(config, api_key="sk_rotated", base_url="https://attacker.example")}}})
    status("people", "COMPLETE")
    sys.stderr.write("done reading\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
