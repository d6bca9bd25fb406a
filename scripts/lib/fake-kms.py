#!/usr/bin/env python3
"""A local AWS KMS (and STS) for Tributary's tests: moto's server, with IAM authentication on,
so every request after the set-up must carry a valid Signature Version 4 by a real access key.

Prints one JSON line once ready, then serves until stdin closes or it is terminated (the test's end):
  {"endpoint", "region", "access_key_id", "secret_access_key", "key_id", "key_arn", "alias",
   "other_key_id", "role_arn", "denied_access_key_id", "denied_secret_access_key",
   "role_access_key_id", "role_secret_access_key", "role_session_token"}
"""
import json, os, select, signal, sys, socket

# The set-up below makes exactly this many unauthenticated calls; every later one is checked.
SETUP_CALLS = 12
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "setup")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "setup")

import boto3  # noqa: E402  (after the environment above)
from moto.server import ThreadedMotoServer  # noqa: E402

# moto's server module installs a SIGTERM handler that raises SystemExit, which would wait for
# the server's non-daemon threads forever: end the process outright instead. Installed before
# anything else runs, so a test that stops the fake at once never meets moto's handler.
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
endpoint = f"http://127.0.0.1:{port}"
region = "eu-west-1"
iam = boto3.client("iam", endpoint_url=endpoint, region_name=region)
kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)

iam.create_user(UserName="tributary")                                          # 1
keys = iam.create_access_key(UserName="tributary")["AccessKey"]                 # 2
iam.put_user_policy(UserName="tributary", PolicyName="kms", PolicyDocument=json.dumps({  # 3
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["kms:*", "sts:*"], "Resource": "*"}]}))
iam.create_user(UserName="outsider")                                            # 4
denied = iam.create_access_key(UserName="outsider")["AccessKey"]                # 5
iam.put_user_policy(UserName="outsider", PolicyName="none", PolicyDocument=json.dumps({  # 6
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": ["kms:*"], "Resource": "*"}]}))
key = kms.create_key(Description="tributary test KEK")["KeyMetadata"]           # 7
other = kms.create_key(Description="tributary test KEK 2")["KeyMetadata"]       # 8
kms.create_alias(AliasName="alias/tributary-test", TargetKeyId=key["KeyId"])    # 9
role = iam.create_role(RoleName="tributary-worker", AssumeRolePolicyDocument=json.dumps({  # 10
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Federated": "oidc"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}))["Role"]
iam.put_role_policy(RoleName="tributary-worker", PolicyName="kms", PolicyDocument=json.dumps({  # 11
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["kms:*"], "Resource": "*"}]}))
# Temporary credentials of the role, as STS's AssumeRoleWithWebIdentity would hand a worker
# (moto's own web identity exchange fails with authentication on; the tests serve these from a
# fake STS instead).
sts = boto3.client("sts", endpoint_url=endpoint, region_name=region)
assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="tributary-test")["Credentials"]  # 12

print(json.dumps({
    "endpoint": endpoint, "region": region,
    "access_key_id": keys["AccessKeyId"], "secret_access_key": keys["SecretAccessKey"],
    "denied_access_key_id": denied["AccessKeyId"], "denied_secret_access_key": denied["SecretAccessKey"],
    "key_id": key["KeyId"], "key_arn": key["Arn"], "alias": "alias/tributary-test",
    "other_key_id": other["KeyId"], "role_arn": role["Arn"],
    "role_access_key_id": assumed["AccessKeyId"], "role_secret_access_key": assumed["SecretAccessKey"],
    "role_session_token": assumed["SessionToken"],
}), flush=True)
# Wait for stdin to close, waking often: the kernel may deliver SIGTERM to one of the server's
# threads, and Python runs the handler only when the main thread next runs bytecode, which a
# plain blocking read of stdin would never let it do.
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.2)
    if ready and not os.read(sys.stdin.fileno(), 4096):
        os._exit(0)
