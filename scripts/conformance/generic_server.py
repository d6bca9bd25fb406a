#!/usr/bin/env python3
"""A generic fake API for conformance cases made by make_case.py: fixture.json says, per
stream, which request paths it serves, where its records sit in the body and how it pages;
every response is generated deterministically from the request, so the same request always
gets the same bytes. Every exchange is written to a cassette that the Swift test replays, so
CI needs neither Python nor this server.

A fixture may instead hold a "script": rules tried in order, each matching a path exactly and
a subset of the query ({"path": "/items", "query": {"order": "asc"}}), each with a list of
responses ({"status": 429, "headers": {...}, "body": ...}) served in turn, the last one
repeating. Scripted cases state exactly what a behaviour needs (a 429 then a page, nulls, a
next-page link); their cassette keeps every exchange in order, repeats included.

A fixture with "faults": true also exercises error handling and nulls, for each stream marked
"faulty" (one that is neither a parent nor a substream): its first request is answered 429
(Retry-After: 1), its first request for a second page 500, and every record carries a
top-level null and a nested one. Such a cassette, too, keeps every exchange in order.

Usage: generic_server.py PORT FIXTURE --log requests.log --cassette cassette.json
Prints "READY <pid>" when listening; writes the cassette on SIGTERM.
"""
import hashlib
import base64
import json
import os
import re
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, urlencode

PORT = int(sys.argv[1])
FIXTURE = json.load(open(sys.argv[2]))
args = sys.argv[3:]
LOG = open(args[args.index("--log") + 1], "w") if "--log" in args else None
CASSETTE_PATH = args[args.index("--cassette") + 1] if "--cassette" in args else None
LOCK = threading.Lock()
CASSETTE = {}
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SMALL_PAGE = 3


def dumps(o):
    return json.dumps(o, separators=(",", ":"), sort_keys=True)


def strftime(dt, fmt):
    if not fmt:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "%s":
        return int(dt.timestamp())
    if fmt == "%ms":
        return int(dt.timestamp() * 1000)
    return dt.strftime(fmt.replace("%_ms", "000").replace("%s_as_float", str(dt.timestamp())))


def stream_for(path):
    best = None
    for spec in FIXTURE["streams"]:
        if re.match(spec["route"], path):
            literal = len(re.sub(r"\[\^/\]\*", "", spec["route"]))
            if best is None or literal > best[0]:
                best = (literal, spec)
    return best[1] if best else None


def page_size(spec, query):
    if spec.get("size_param") and spec["size_param"] in query:
        try:
            return max(1, int(query[spec["size_param"]]))
        except ValueError:
            pass
    return spec.get("page_size")


def page_index(spec, query, body):
    paging = spec.get("paging")
    token = query.get(spec.get("token_param") or "page_token") or query.get("page_token")
    if token is None and spec.get("token_field") and isinstance(body, dict):
        token = body.get(spec["token_field"])
    if token is None:
        return 0
    if paging == "PageIncrement":
        base = 1 if spec.get("start_from_page", 0) <= 1 else spec["start_from_page"]
        try:
            return max(0, int(token) - base)
        except ValueError:
            return 0
    if paging == "OffsetIncrement":
        size = page_size(spec, query) or SMALL_PAGE
        try:
            return int(token) // max(size, 1)
        except ValueError:
            return 0
    match = re.search(r"p(\d+)", str(token))
    return int(match.group(1)) if match else 0


SEEN = {}
SCRIPT_TURNS = {}
FAULTS_DONE = set()
SEQUENCED = "script" in FIXTURE or FIXTURE.get("faults")


def fault(spec, index):
    """The injected failure for this request of a faulty stream, once each: 429, then a 500 on page 2."""
    if not (FIXTURE.get("faults") and spec.get("faulty")):
        return None
    with LOCK:
        if (spec["name"], 429) not in FAULTS_DONE:
            FAULTS_DONE.add((spec["name"], 429))
            return 429, {"error": "rate limited"}, {"Retry-After": "1"}
        if index == 1 and (spec["name"], 500) not in FAULTS_DONE:
            FAULTS_DONE.add((spec["name"], 500))
            return 500, {"error": "internal"}, {}
    return None


class RawBody:
    """A scripted response body sent as these bytes, not as JSON."""
    def __init__(self, data):
        self.data = data


def scripted(path, query):
    for number, rule in enumerate(FIXTURE["script"]):
        wanted = rule.get("query", {})
        if rule["path"] == path and all(query.get(k) == v for k, v in wanted.items()):
            with LOCK:
                turn = SCRIPT_TURNS.get(number, 0)
                SCRIPT_TURNS[number] = turn + 1
            answer = rule["responses"][min(turn, len(rule["responses"]) - 1)]
            # A body that is not JSON: "raw" text, or "raw_base64" bytes (gzip, say).
            if "raw" in answer:
                return answer.get("status", 200), RawBody(answer["raw"].encode()), answer.get("headers", {})
            if "raw_base64" in answer:
                return answer.get("status", 200), RawBody(base64.b64decode(answer["raw_base64"])), answer.get("headers", {})
            return answer.get("status", 200), answer.get("body", {}), answer.get("headers", {})
    return 404, {"error": "no rule of the script serves " + path}, {}


def build(path, query, body):
    for login in FIXTURE.get("logins", []):
        if re.match(login["route"], path):
            answer = "session-token-123"
            for key in reversed(login["token_path"]):
                answer = {key: answer}
            return 200, answer, {}
    spec = stream_for(path)
    if spec is None:
        return 404, {"error": "no stream serves " + path}, {}
    paging = spec.get("paging")
    size = page_size(spec, query)
    index = page_index(spec, query, body)
    if paging in ("PageIncrement", "OffsetIncrement"):
        # Full pages end only when the page is short: one full page, then a short one.
        # Pages up to 20 records are served full (then a short one); bigger page sizes get one
        # short page, which keeps goldens of nested substreams small.
        per_page = size if size and size <= 20 else None
        pages = [per_page, max(1, per_page // 2)] if per_page else [SMALL_PAGE]
    elif paging == "CursorPagination":
        pages = [SMALL_PAGE, SMALL_PAGE, 1]
    else:
        pages = [SMALL_PAGE]
    injected = fault(spec, index)
    if injected:
        return injected
    count = pages[index] if index < len(pages) else 0
    more = index + 1 < len(pages)
    salt = hashlib.sha256(path.encode()).hexdigest()[:6]
    records = []
    for k in range(count):
        n = index * 100 + k
        record = {"name": f"{spec['name']} {n}", "email": f"user{n}@example.com", "status": "active"}
        for key in spec.get("primary_key") or ["id"]:
            record[key] = f"{spec['name'][:3]}-{salt}-p{index}-{k}"
        if spec.get("cursor_field"):
            when = NOW - timedelta(days=2, hours=index, minutes=k)
            record[spec["cursor_field"]] = strftime(when, spec.get("cursor_format"))
        if more and spec.get("cursor_value") and "last_record" in spec["cursor_value"]:
            field = re.search(r"last_record\[['\"]([^'\"]+)", spec["cursor_value"])
            if field:
                record[field.group(1)] = f"p{index + 1}"
        if FIXTURE.get("faults") and spec.get("faulty"):
            record["note"] = None
            record["meta"] = {"tag": None, "n": k}
        records.append(record)
    body = records
    field_path = [p for p in spec.get("field_path", []) if "{{" not in p]
    for key in reversed(field_path):
        if key == "*":
            body = {f"r{i}": r for i, r in enumerate(body)} if isinstance(body, list) else body
        else:
            body = {key: body}
    if not isinstance(body, dict) and (spec.get("cursor_path") or spec.get("stop_path")):
        body = {"data": body}
    headers = {}
    token = f"p{index + 1}"
    if paging == "CursorPagination":
        cursor_value = spec.get("cursor_value") or ""
        if "headers" in cursor_value and "link" in cursor_value.lower():
            if more:
                nxt = dict(query)
                nxt[spec.get("token_param") or "page_token"] = token
                headers["Link"] = f'<http://127.0.0.1:{PORT}{path}?{urlencode(sorted(nxt.items()))}>; rel="next"'
        elif spec.get("cursor_path"):
            target = body
            for key in spec["cursor_path"][:-1]:
                target = target.setdefault(key, {}) if isinstance(target, dict) else {}
            if more and isinstance(target, dict):
                target[spec["cursor_path"][-1]] = (f"http://127.0.0.1:{PORT}{path}?page_token={token}"
                                                  if spec.get("token_in") == "path" else token)
        if spec.get("stop_path") and spec.get("stop_path") != spec.get("cursor_path"):
            target = body
            for key in spec["stop_path"][:-1]:
                target = target.setdefault(key, {}) if isinstance(target, dict) else {}
            last = spec["stop_path"][-1]
            if isinstance(target, dict):
                if "more" in last.lower() or last.lower().startswith("has"):
                    target[last] = more
                elif more:
                    target[last] = token
    return 200, body, headers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self, method):
        u = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(u.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length).decode() if length else ""
        try:
            parsed_body = json.loads(raw_body) if raw_body else {}
        except ValueError:
            parsed_body = {k: v[0] for k, v in parse_qs(raw_body).items()}
        if LOG:
            with LOCK:
                logged = {"path": u.path, "query": dict(sorted(query.items())),
                          "auth": self.headers.get("Authorization"),
                          "gc_version": self.headers.get("GoCardless-Version")}
                if "script" in FIXTURE:
                    # The query as sent: a parameter sent twice shows (the parsed query hides it).
                    logged["raw_query"] = u.query
                LOG.write(json.dumps(logged) + "\n")
                LOG.flush()
        request_key = dumps({"method": method, "path": u.path, "query": dict(sorted(query.items())), "body": parsed_body})
        with LOCK:
            SEEN[request_key] = SEEN.get(request_key, 0) + 1
            repeats = SEEN[request_key]
        if repeats > 20:
            # A client looping on the same request: end it with an empty page.
            status, body, headers = 200, {}, {}
        elif "script" in FIXTURE:
            status, body, headers = scripted(u.path, query)
        else:
            status, body, headers = build(u.path, query, parsed_body)
        raw = isinstance(body, RawBody)
        payload = body.data if raw else dumps(body).encode()
        with LOCK:
            exchange = {"status": status, "headers": headers}
            if raw:
                exchange["body_base64"] = base64.b64encode(payload).decode()
            else:
                exchange["body"] = payload.decode()
            if SEQUENCED:
                CASSETTE.setdefault(request_key, []).append(exchange)
            else:
                CASSETTE[request_key] = [exchange]
        self.send_response(status)
        if not any(name.lower() == "content-type" for name in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


def save(*_):
    if CASSETTE_PATH:
        with LOCK:
            # In order within a request: a replay answers its n-th repeat with the n-th response.
            entries = [{"request": json.loads(k), "response": v} for k, answers in sorted(CASSETTE.items()) for v in answers]
            json.dump(entries, open(CASSETTE_PATH, "w"), indent=0, sort_keys=True)
    os._exit(0)


signal.signal(signal.SIGTERM, save)
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"READY {os.getpid()}", flush=True)
server.serve_forever()
