#!/usr/bin/env python3
"""Builds a conformance case from a real manifest: the manifest with its url_base pointed at
the local fake server (nothing else changed, but an inline spec added when the wheel kept it
apart), a config generated from the spec, a configured catalog of every stream, and
fixture.json describing each stream's route, record selector, paginator and cursor for
generic_server.py.

Usage: make_case.py MANIFEST RESOLVED_JSON OUT_DIR [SPEC_FILE] [--faults]
  RESOLVED_JSON: `tributary connectors resolve MANIFEST` ($ref and $parameters applied).
  --faults: the fake answers each stream that is neither a parent nor a substream with a 429
  first and a 500 on its second page, its records carry nulls, and every incremental stream
  resumes from a state two days old.
"""
import json
import os
import re
import sys

import yaml

LOCAL = "http://127.0.0.1:18731"
faults = "--faults" in sys.argv
arguments = [a for a in sys.argv[1:] if a != "--faults"]
manifest_path, resolved_path, out = arguments[0], arguments[1], arguments[2]
spec_path = arguments[3] if len(arguments) > 3 else None
os.makedirs(out, exist_ok=True)
text = open(manifest_path).read()
resolved = json.load(open(resolved_path))

# url_base: keep the path part, swap scheme and host (templated hosts included) for the fake.
def localize(match):
    quote, value = match.group(2) or "", match.group(3)
    value = re.sub(r"^\s*https?://(?:\{\{.*?\}\}|[^/\"'])*", LOCAL, value)
    # A base taken whole from the config (`{{ config['api_url'] }}/client`): the fake stands in for it.
    value = re.sub(r"^\s*\{\{.*?\}\}", LOCAL, value)
    if not value.startswith(LOCAL):
        value = LOCAL + "/" + value.lstrip("/")
    return f"{match.group(1)}{quote}{value}{quote}"
# Block scalars (`url_base: >-` and continuation lines): folded into one quoted line first.
def fold(match):
    indent, body = match.group(1), match.group(2)
    value = " ".join(line.strip() for line in body.splitlines() if line.strip())
    return f"{indent}url_base: {json.dumps(value)}\n"
text = re.sub(r"^([ \t]*)url_base:[ \t]*(?:[>|]-?)?[ \t]*\n((?:\1[ \t]+\S[^\n]*\n)+)", fold, text, flags=re.M)
text = re.sub(r"^(\s*url_base:\s*)(['\"])(.*)\2\s*$", localize, text, flags=re.M)
text = re.sub(r"^(\s*url_base:\s*)()([^'\"\s>|][^\n]*?)\s*$", localize, text, flags=re.M)
if "spec" not in resolved and spec_path:
    spec = yaml.safe_load(open(spec_path)) if spec_path.endswith(".yaml") else json.load(open(spec_path))
    spec = spec.get("spec", spec)
    connection_spec = spec.get("connection_specification") or spec.get("connectionSpecification") or spec
    block = yaml.safe_dump({"spec": {"type": "Spec", "connection_specification": connection_spec}}, sort_keys=False)
    text += "\n# added for the offline run: the spec the wheel kept apart\n" + block
    resolved["spec"] = {"connection_specification": connection_spec}
open(os.path.join(out, "manifest.yaml"), "w").write(text)

# A config satisfying the spec: defaults, enums, examples, then values by type and name.
def value_for(name, schema):
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        first = options[0]
        return {k: value_for(k, v) for k, v in first.get("properties", {}).items() if k in first.get("required", []) or "const" in v}
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    pattern = schema.get("pattern")
    lowered = name.lower()
    if kind == "string" or kind is None:
        candidates = []
        if schema.get("airbyte_secret"):
            candidates.append("test-secret-token")
        dates = ["2024-05-29T00:00:00Z", "2024-05-29", "2024-05-29T00:00:00.000Z", "2024-05-29 00:00:00",
                 "29-05-2024", "2024-05-29T00:00:00.000000Z", "2024-05-29T00:00:00+00:00"]
        if "date" in lowered or "start" in lowered or "time" in lowered or schema.get("format") in ("date-time", "date"):
            candidates += dates
        for example in schema.get("examples", []):
            if isinstance(example, str):
                candidates.append(example)
        candidates += ["test-value", "dom123", "test", "1"] + (dates if pattern else []) + ["sandbox_test-token", "a1b2c3", "12345"]
        for candidate in candidates:
            if not pattern or re.search(pattern, candidate):
                return candidate
        return candidates[0]
    if kind in ("integer", "number") and ("date" in lowered or "start" in lowered or "time" in lowered):
        return 1716940800  # 2024-05-29T00:00:00Z as epoch seconds: a few days before the frozen now
    if kind == "integer":
        return schema.get("minimum", 10) if schema.get("minimum", 10) > 0 else 10
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        return [value_for(name, items)] if schema.get("minItems") else []
    if kind == "object":
        return {k: value_for(k, v) for k, v in schema.get("properties", {}).items() if k in schema.get("required", [])}
    return "test-value"

connection = resolved.get("spec", {}).get("connection_specification", {})
config = {}
referenced = set(re.findall(r"config\[['\"](\w+)['\"]\]|config\.get\(['\"](\w+)['\"]|config\.(\w+)", text))
referenced = {a or b or c for a, b, c in referenced}
for key, schema in connection.get("properties", {}).items():
    if key in connection.get("required", []) or (key in referenced and "default" not in schema):
        config[key] = value_for(key, schema)
json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=1)

# Each stream: where it is served, where its records sit, how it pages.
def response_path(expression):
    """The response keys a cursor expression reads: response.a.b, ['a']['b'], .get('a', {}).get('b')."""
    match = re.search(r"response((?:\.\w+|\[['\"][^'\"]+['\"]\]|\.get\(\s*['\"][^'\"]+['\"][^)]*\))+)", expression or "")
    if not match:
        return None
    return re.findall(r"\.get\(\s*['\"]([^'\"]+)['\"]|\[['\"]([^'\"]+)['\"]\]|\.(\w+)", match.group(1)) and [
        a or b or c for a, b, c in re.findall(r"\.get\(\s*['\"]([^'\"]+)['\"]|\[['\"]([^'\"]+)['\"]\]|\.(\w+)", match.group(1))
        if (a or b or c) != "get"]

def route(requester):
    base = requester.get("url_base", "") or ""
    base = re.sub(r"^\s*https?://(?:\{\{.*?\}\}|[^/])*", "", base)
    base = re.sub(r"^\s*\{\{.*?\}\}", "", base)
    path = requester.get("path", "") or ""
    if path.startswith("http"):
        path = re.sub(r"^https?://[^/]*", "", path)
        base = ""
    full = base.rstrip("/") + "/" + path.lstrip("/") if path else base
    # A query written into the path is not part of the route.
    full = re.sub(r"\?(?![^{]*\}\}).*$", "", full)
    pattern = re.escape(full or "/")
    pattern = re.sub(r"\\\{\\\{.*?\\\}\\\}", "[^/]*", pattern)
    return "^" + pattern.rstrip("/") + "/?$"

def login_routes(node, found):
    """Login requesters of session-token authenticators: the fake answers them with a token."""
    if isinstance(node, dict):
        if node.get("type") == "SessionTokenAuthenticator" and isinstance(node.get("login_requester"), dict):
            found.append({"route": route(node["login_requester"]), "token_path": node.get("session_token_path") or ["token"]})
        for value in node.values():
            login_routes(value, found)
    elif isinstance(node, list):
        for value in node:
            login_routes(value, found)
    return found

def parent_names(node, found):
    """Names of the streams that substreams read as parents."""
    if isinstance(node, dict):
        for config in node.get("parent_stream_configs") or []:
            if isinstance(config, dict) and isinstance(config.get("stream"), dict):
                found.add(config["stream"].get("name"))
        for value in node.values():
            parent_names(value, found)
    elif isinstance(node, list):
        for value in node:
            parent_names(value, found)
    return found

parents = parent_names(resolved, set())
from datetime import datetime, timedelta, timezone
STATE_AT = datetime(2024, 5, 30, 12, 0, 0, tzinfo=timezone.utc)  # two days before the frozen now

def formatted(moment, fmt):
    if not fmt:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "%s":
        return str(int(moment.timestamp()))
    if fmt == "%ms":
        return str(int(moment.timestamp() * 1000))
    return moment.strftime(fmt.replace("%_ms", "000"))

states = []
streams = []
catalog = []
for stream in resolved.get("streams", []):
    retriever = stream.get("retriever", {})
    requester = retriever.get("requester", {})
    selector = retriever.get("record_selector", {}).get("extractor", {})
    paginator = retriever.get("paginator") or {}
    strategy = paginator.get("pagination_strategy", {}) or {}
    token = paginator.get("page_token_option") or {}
    size_option = paginator.get("page_size_option") or {}
    incremental = stream.get("incremental_sync") or {}
    pk = stream.get("primary_key") or []
    pk = [pk] if isinstance(pk, str) else [p if isinstance(p, str) else p[0] for p in pk]
    spec = {
        "name": stream.get("name"),
        "route": route(requester),
        "field_path": selector.get("field_path", []),
        "paging": strategy.get("type") if paginator.get("type") == "DefaultPaginator" else None,
        "page_size": strategy.get("page_size") if isinstance(strategy.get("page_size"), int) else None,
        "start_from_page": strategy.get("start_from_page", 0) or 0,
        "token_param": token.get("field_name") if token.get("inject_into") == "request_parameter" else None,
        "token_in": "path" if token.get("type") == "RequestPath" else token.get("inject_into"),
        "token_field": token.get("field_name") if token.get("inject_into") in ("body_json", "body_data") else None,
        "size_param": size_option.get("field_name") if size_option.get("inject_into") == "request_parameter" else None,
        "cursor_value": strategy.get("cursor_value"),
        "cursor_path": response_path(strategy.get("cursor_value")),
        "stop_path": response_path(strategy.get("stop_condition")),
        "primary_key": pk or ["id"],
        "cursor_field": incremental.get("cursor_field"),
        "cursor_format": (incremental.get("cursor_datetime_formats") or [incremental.get("datetime_format")])[0]
                         if incremental else None,
        "faulty": faults and not retriever.get("partition_router") and stream.get("name") not in parents,
    }
    if faults and incremental.get("cursor_field") and isinstance(incremental.get("cursor_field"), str) \
            and incremental.get("type") == "DatetimeBasedCursor":
        states.append({"type": "STREAM", "stream": {"stream_descriptor": {"name": stream.get("name")},
                       "stream_state": {incremental["cursor_field"]: formatted(STATE_AT, incremental.get("datetime_format"))}}})
    streams.append(spec)
    catalog.append({"stream": {"name": stream.get("name"), "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                    "sync_mode": "incremental" if incremental else "full_refresh", "destination_sync_mode": "append",
                    **({"cursor_field": [incremental["cursor_field"]]} if incremental.get("cursor_field") else {})})
logins = []
for item in login_routes(resolved, []):
    if item not in logins:
        logins.append(item)
json.dump({"streams": streams, "logins": logins, **({"faults": True} if faults else {})},
          open(os.path.join(out, "fixture.json"), "w"), indent=1)
if states:
    json.dump(states, open(os.path.join(out, "state.json"), "w"), indent=1)
json.dump({"streams": catalog}, open(os.path.join(out, "catalog.json"), "w"), indent=1)
print(f"{out}: {len(streams)} streams")
