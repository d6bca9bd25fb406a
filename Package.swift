// swift-tools-version: 6.1
import PackageDescription

// Upcoming features every module opts into: explicit `any`, and imports that don't leak.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Tributary",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tributary", targets: ["tributary"]),
        .executable(name: "tributary-bench", targets: ["TributaryBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The swift-configuration trait is off: Tributary reads its environment in one place itself.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // gzip for GzipDecoder: zlib behind a ByteBuffer API, by Hummingbird's author.
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        // ZIP archives for ZipfileDecoder: the central directory and deflate, read in memory.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // GraphQL's parser, validator and executor. Not Graphiti: its schemas are Swift types,
        // and ours follow the unified models, which are data registered at run time.
        .package(url: "https://github.com/GraphQLSwift/GraphQL", from: "4.3.0"),
        // OrderedDictionary, which GraphQL's values and field maps are made of.
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // Child processes for Airbyte sources run as processes: process groups, a teardown
        // sequence (TERM, then KILL) on cancellation, and pipes read as async sequences.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // FilePath, which Subprocess's API takes (already in the graph through swift-subprocess).
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // Domain types, errors, Secret<T>. No I/O and no third-party imports.
        .target(name: "HubCore", swiftSettings: swiftSettings),
        // Field-level encryption; swift-crypto only.
        .target(
            name: "HubCrypto",
            dependencies: ["HubCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The key-encryption key in AWS KMS: Signature Version 4 and three JSON calls over
        // AsyncHTTPClient (no AWS SDK is in the package mirror; see SignatureV4.swift).
        .target(
            name: "HubKMS",
            dependencies: [
                "HubCore", "HubCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The declarative connector engine: Airbyte low-code manifests, the expression
        // evaluator, HTTP with retries. Never touches the database.
        .target(
            name: "HubConnectors",
            dependencies: [
                "HubCore", "HubCrypto",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                // RSA signatures for JwtAuthenticator (RS*, PS*) and Ed25519 keys in PEM.
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: swiftSettings
        ),
        // The second connector runtime: Airbyte sources published on PyPI, installed into a
        // virtual environment each and run as processes speaking the Airbyte protocol.
        // prctl(2) for the process runtime: a variadic C function Swift can't call directly.
        .target(name: "CProcessShims"),
        .target(
            name: "HubAirbyteProcess",
            dependencies: [
                "HubCore", "HubConnectors", "CProcessShims",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                // The egress proxy a source's requests go through.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL plumbing shared by the store and the queue: connection URLs and pools,
        // session limits, driver errors as HubErrors. Knows no table.
        .target(
            name: "HubDatabase",
            dependencies: [
                "HubCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The only module (with HubQueue, later) that speaks SQL.
        .target(
            name: "HubStore",
            dependencies: [
                "HubCore", "HubCrypto", "HubDatabase",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedMigrations"]
        ),
        // The Postgres job queue and its worker pool; generic over job kinds.
        .target(
            name: "HubQueue",
            dependencies: [
                "HubDatabase", "HubCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Job handlers that drive connectors into the store, and the scheduler of periodic syncs.
        .target(
            name: "HubSync",
            dependencies: [
                "HubDatabase", "HubCore", "HubCrypto", "HubConnectors", "HubAirbyteProcess", "HubStore", "HubQueue",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // `/graphql`: a schema built from the registered unified models, its depth and cost
        // limits, and resolvers over the store. Knows no HTTP.
        .target(
            name: "HubGraphQL",
            dependencies: [
                "HubCore", "HubCrypto", "HubConnectors", "HubStore", "HubSync",
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HubAPI",
            dependencies: [
                "HubDatabase", "HubCore", "HubCrypto", "HubConnectors", "HubStore", "HubQueue", "HubSync", "HubGraphQL", "HubAirbyteProcess",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL that `dev`, `demo`, `db` and the tests start themselves, in a folder.
        .target(
            name: "HubEmbeddedPostgres",
            dependencies: [
                "HubCore", "HubDatabase",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Composition root: configuration, roles, service lifecycle.
        .target(
            name: "HubApp",
            dependencies: [
                "HubDatabase", "HubEmbeddedPostgres", "HubCore", "HubCrypto", "HubKMS", "HubStore", "HubQueue", "HubAPI", "HubSync", "HubConnectors",
                "HubAirbyteProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // `tributary demo`: two sample APIs, their connectors (built in) and the driver that
        // shows the product working. Apart from HubApp so that nothing else rebuilds with it.
        .target(
            name: "HubDemo",
            dependencies: [
                "HubApp", "HubConnectors", "HubCore", "HubCrypto", "HubDatabase", "HubQueue", "HubStore", "HubSync",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedDemoConnectors"]
        ),
        .executableTarget(
            name: "tributary",
            dependencies: [
                "HubApp", "HubDemo", "HubEmbeddedPostgres", "HubCore", "HubCrypto", "HubDatabase", "HubStore", "HubQueue", "HubConnectors", "HubSync", "HubAirbyteProcess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // `scripts/bench NAME`: benchmarks that print their figures beside the limits and peers they are measured against.
        .executableTarget(
            name: "TributaryBench",
            dependencies: [
                "HubCore", "HubCrypto", "HubDatabase", "HubStore", "HubQueue", "HubConnectors", "HubSync",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/TributaryBench",
            swiftSettings: swiftSettings
        ),
        // A worker or scheduler process with test job kinds, for the queue's process tests.
        .executableTarget(
            name: "QueueFixtureWorker",
            dependencies: [
                "HubQueue", "HubDatabase", "HubCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Turns migrations/*.sql into Swift source, so a deployed binary migrates without the source tree.
        .executableTarget(name: "MigrationEmbedder", swiftSettings: swiftSettings),
        .plugin(name: "EmbedMigrations", capability: .buildTool(), dependencies: ["MigrationEmbedder"]),
        .plugin(name: "EmbedDemoConnectors", capability: .buildTool(), dependencies: ["MigrationEmbedder"]),
        // Shared by every test target: the embedded test database, subprocess helpers.
        .target(
            name: "TributaryTestSupport",
            dependencies: [
                "HubEmbeddedPostgres", "HubDatabase", "HubStore", "HubCore", "HubCrypto", "HubConnectors",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                // Fake third-party APIs are small Hummingbird servers.
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "HubCoreTests", dependencies: ["HubCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "HubAirbyteProcessTests",
            dependencies: ["HubAirbyteProcess", "HubConnectors", "HubCore", "CProcessShims", .product(name: "Logging", package: "swift-log")],
            // Read in place by path (#filePath): the fake source runs from the checkout.
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubKMSTests",
            dependencies: ["HubKMS", "HubCrypto", "HubCore", "TributaryTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubAPITests",
            dependencies: [
                "HubAPI", "HubConnectors", "HubStore", "HubCore", "HubCrypto", "HubQueue", "HubSync", "TributaryTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubSyncTests",
            dependencies: [
                "HubSync", "HubConnectors", "HubAirbyteProcess", "HubDatabase", "HubStore", "HubQueue", "HubCore", "HubCrypto", "TributaryTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubConnectorsTests",
            dependencies: [
                "HubConnectors", "HubCore", "HubDatabase", "TributaryTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            resources: [.copy("Conformance")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubCryptoTests",
            dependencies: ["HubCrypto", "HubCore", "TributaryTestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubStoreTests",
            dependencies: [
                "HubStore", "HubCore", "HubCrypto", "HubDatabase", "TributaryTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubQueueTests",
            dependencies: [
                "HubQueue", "HubDatabase", "HubStore", "HubCore", "TributaryTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubAppTests",
            dependencies: [
                "HubApp", "HubDemo", "HubEmbeddedPostgres", "HubCrypto", "HubKMS", "HubDatabase", "HubStore", "HubCore", "HubQueue", "TributaryTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// Coverage-guided fuzz targets (libFuzzer), only with TRIBUTARY_FUZZ=1: `scripts/fuzz` builds
// them with `-sanitize=fuzzer,address` into .build-fuzz, so the normal build never sees them.
if Context.environment["TRIBUTARY_FUZZ"] == "1" {
    // Under Fuzz/, not Sources/: harnesses, never part of the product (a broken invariant is a
    // deliberate crash there, which is how libFuzzer records a finding).
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["FuzzDriver"], path: "Fuzz/FuzzSupport", swiftSettings: swiftSettings))
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzExpression", ["HubConnectors"]),
        ("FuzzLiteralEval", ["HubConnectors"]),
        ("FuzzManifest", ["HubConnectors"]),
        ("FuzzSidecar", ["HubConnectors"]),
        ("FuzzWebhook", ["HubConnectors", "HubCore", .product(name: "Crypto", package: "swift-crypto")]),
        ("FuzzRecordsQuery", [
            "HubAPI", "HubCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name, dependencies: target.dependencies + ["FuzzSupport"], path: "Fuzz/\(target.name)", swiftSettings: swiftSettings,
            // Everything is compiled with coverage (scripts/fuzz); only these link libFuzzer, so
            // the build's own tools (MigrationEmbedder) keep their `main`.
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
        ))
        package.products.append(.executable(name: target.name, targets: [target.name]))
    }
}
