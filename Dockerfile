# syntax=docker/dockerfile:1
# Tributary's image: one binary, three roles (`serve --role api|worker|scheduler`), migrations
# embedded in it (`tributary migrate`). No Docker engine runs on our CI machines, so the image
# is not built there; what is proven there are these same steps: `.ci/run` builds with the
# same toolchain and `swift build` command line (scripts/test, debug; scripts/bench, release),
# and scripts/lint-deploy checks this file with hadolint.

# --- build: the Swift toolchain image matching .ci's (Swift 6.3.1, Debian bookworm) ---------
FROM swift:6.3.1-bookworm AS build
WORKDIR /src
# The whole package (.dockerignore leaves out builds, venvs and docs): SwiftPM checks that every
# target the manifest declares, tests and benchmarks included, has its folder.
COPY . .
# A static Swift runtime: the run stage needs no toolchain, only libc, libstdc++ and zlib.
RUN swift build -c release --product tributary --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/tributary" /out/tributary

# --- run: slim Debian, a non-root user, the binary ------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to third-party APIs, KMS and a managed PostgreSQL; curl: HEALTHCHECK;
# libxml2: the XmlDecoder (Foundation's XMLParser); python3 and python3-venv: process connectors (Airbyte sources from PyPI, installed by the
# worker into TRIBUTARY_CONNECTOR_RUNTIMES_DIR); util-linux (essential in Debian) has prlimit.
# Versions are not pinned (hadolint DL3008): the image is rebuilt on every release and takes
# bookworm's security updates; a pin would freeze them out.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libstdc++6 libxml2 tzdata zlib1g python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tributary \
    && useradd --system --uid 10001 --gid tributary --home-dir /var/lib/tributary --create-home --shell /usr/sbin/nologin tributary
COPY --from=build /out/tributary /usr/local/bin/tributary
USER 10001:10001
WORKDIR /var/lib/tributary
# Every setting is an environment variable (docs/configuration.md); these are the ones an
# image must change from the laptop defaults: listen on every interface, log JSON.
ENV TRIBUTARY_HTTP_ADDRESS=0.0.0.0:8080 \
    TRIBUTARY_LOG_LEVEL=info
EXPOSE 8080
# /healthz answers while the process runs; /readyz also needs the database (for load balancers
# and Kubernetes readiness, not for a restart decision).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--max-time", "2", "http://127.0.0.1:8080/healthz"]
# The shutdown grace (TRIBUTARY_SHUTDOWN_GRACE_SECONDS, 10 s by default, plus up to 10 s of
# hand-back) must fit in the orchestrator's stop timeout: `docker stop -t 30`, ECS stopTimeout,
# Kubernetes terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["serve", "--role", "api"]
