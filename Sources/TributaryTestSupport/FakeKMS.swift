import Foundation

/// moto's KMS and IAM, run by `scripts/lib/fake-kms.py` with authentication on: a request
/// whose Signature Version 4 is wrong, or whose user may not use KMS, is refused as AWS
/// refuses it. The Python comes from `.test-venv` (`scripts/ensure-test-tools`, which
/// `scripts/test` runs) or `TRIBUTARY_TEST_PYTHON`; without it the test fails, saying so.
public struct FakeKMS: Sendable {
    public let endpoint: URL
    public let region: String
    public let accessKeyID: String
    public let secretAccessKey: String
    public let deniedAccessKeyID: String
    public let deniedSecretAccessKey: String
    public let keyID: String
    public let keyARN: String
    public let alias: String
    public let otherKeyID: String
    /// The role's temporary credentials, as STS hands them to a web identity.
    public let roleARN: String
    public let roleAccessKeyID: String
    public let roleSecretAccessKey: String
    public let roleSessionToken: String

    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// The variables a `tributary` process needs to use this fake's key `key` (its alias by default).
    public func environment(key: String? = nil) -> [String: String] {
        ["TRIBUTARY_KMS_KEY_ID": key ?? alias, "TRIBUTARY_KMS_REGION": region, "TRIBUTARY_KMS_ENDPOINT": endpoint.absoluteString,
         "AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey]
    }

    /// Runs `body` beside a fresh fake KMS, stopped afterwards whatever `body` did.
    public static func with<T: Sendable>(_ body: (FakeKMS) async throws -> T) async throws -> T {
        let python = ProcessInfo.processInfo.environment["TRIBUTARY_TEST_PYTHON"] ?? root.appendingPathComponent(".test-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw FakeKMSError("moto is not installed at \(python): run scripts/ensure-test-tools (scripts/test runs it)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root.appendingPathComponent("scripts/lib/fake-kms.py").path]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // Stopped by signal, not only by closing its stdin: a subprocess started meanwhile by
            // another test inherits the pipe's write end and would keep it open.
            try? input.fileHandleForWriting.close()
            process.terminate()
            // Foundation's waitUntilExit spins on a thread that isn't the main one: wait by
            // polling, and kill a fake that ignored SIGTERM rather than spin forever.
            for _ in 0..<100 where process.isRunning { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            while process.isRunning { usleep(10_000) }
        }
        let line = try await firstLine(of: output.fileHandleForReading)
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String],
              let endpoint = object["endpoint"].flatMap(URL.init(string:)) else {
            throw FakeKMSError("the fake KMS did not start: \(line.prefix(200))")
        }
        let fake = FakeKMS(endpoint: endpoint, region: object["region"] ?? "", accessKeyID: object["access_key_id"] ?? "",
                           secretAccessKey: object["secret_access_key"] ?? "", deniedAccessKeyID: object["denied_access_key_id"] ?? "",
                           deniedSecretAccessKey: object["denied_secret_access_key"] ?? "", keyID: object["key_id"] ?? "",
                           keyARN: object["key_arn"] ?? "", alias: object["alias"] ?? "", otherKeyID: object["other_key_id"] ?? "",
                           roleARN: object["role_arn"] ?? "", roleAccessKeyID: object["role_access_key_id"] ?? "",
                           roleSecretAccessKey: object["role_secret_access_key"] ?? "", roleSessionToken: object["role_session_token"] ?? "")
        return try await body(fake)
    }

    /// Reads up to the first newline on a thread of its own (the read blocks).
    static func firstLine(of handle: FileHandle) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var bytes: [UInt8] = []
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    bytes += chunk
                    if chunk.contains(UInt8(ascii: "\n")) { break }
                }
                let text = String(decoding: bytes, as: UTF8.self)
                guard let line = text.split(separator: "\n").first else {
                    continuation.resume(throwing: FakeKMSError("the fake KMS exited before it was ready"))
                    return
                }
                continuation.resume(returning: String(line))
            }
        }
    }
}

public struct FakeKMSError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
