import Foundation
import HubCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

extension EmbeddedPostgres {
    /// Where the cluster folder goes when the data folder is one the server's account cannot
    /// reach: root-owned, closed to listing, one folder per data folder.
    static let relocatedClustersDirectory = "/var/lib/tributary/clusters"

    /// Running as root, the server runs as another account, which must be able to reach the
    /// cluster folder. A data folder inside a folder closed to other users (a home folder of
    /// mode 0700, the usual case on a fresh server or in a container) is not reachable: the
    /// cluster then lives under `relocatedClustersDirectory` instead, and the data folder keeps
    /// everything else. Deterministic, so every process using the data folder finds it.
    func chooseServerDirectory(account: ServerAccount?) async throws {
        guard let account else { return }
        let root = configuration.rootDirectory
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw HubError(.embeddedPostgres, "cannot create the data folder \(root): \(error.localizedDescription)")
        }
        chmod(root, 0o711)
        if try await account.canReach(root, environment: serverEnvironment) { return }
        let relocated = Self.relocatedClustersDirectory + "/" + stableDigest(root)
        do {
            try FileManager.default.createDirectory(atPath: relocated, withIntermediateDirectories: true)
        } catch {
            throw HubError(.embeddedPostgres, "user \(account.name) cannot reach \(root) (a parent folder is closed to other users), and \(relocated) cannot be created: \(error.localizedDescription)")
        }
        // Root-owned real folders only: one another account made (or a symlink) could hand it
        // the cluster, or swap the folder under the server.
        for folder in ["/var/lib/tributary", Self.relocatedClustersDirectory, relocated] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: folder)
            guard attributes?[.type] as? FileAttributeType == .typeDirectory, (attributes?[.ownerAccountID] as? NSNumber)?.intValue == 0 else {
                throw HubError(.embeddedPostgres, "\(folder) is not a folder owned by root; refusing to keep a database cluster there")
            }
            chmod(folder, 0o711)
        }
        guard try await account.canReach(relocated, environment: serverEnvironment) else {
            throw HubError(.embeddedPostgres, "user \(account.name) can reach neither \(root) nor \(relocated); choose a data folder it can reach (--data-dir)")
        }
        if serverDirectory != relocated {
            // A warning, not a notice: backups of the data folder do not hold the database.
            logger.warning(
                "the data folder is closed to the PostgreSQL account; its cluster lives in \(relocated)/pg (everything else stays in the data folder)",
                metadata: ["hub.pg.data_dir": "\(relocated)/pg", "hub.pg.user": "\(account.name)"]
            )
        }
        serverDirectory = relocated
    }

    /// The root folder is ours (it holds the password file); the cluster folder belongs to the
    /// account that runs the server.
    func prepareDirectories(account: ServerAccount?) throws {
        let root = configuration.rootDirectory
        let cluster = clusterDirectory
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            // Root running the server as another user: that user may pass through, not list.
            chmod(root, account == nil ? 0o700 : 0o711)
            if !FileManager.default.fileExists(atPath: cluster) {
                try FileManager.default.createDirectory(atPath: cluster, withIntermediateDirectories: false)
            }
            chmod(cluster, 0o700)
        } catch {
            throw HubError(.embeddedPostgres, "cannot create the data folder \(root): \(error.localizedDescription)")
        }
        if let account {
            try account.chown(cluster)
            if FileManager.default.fileExists(atPath: configuration.logFile) { try account.chown(configuration.logFile) }
        }
    }

    func initializeCluster(binaries: PostgresBinaries, account: ServerAccount?) async throws {
        let cluster = clusterDirectory
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: cluster)) ?? []
        guard contents.isEmpty else {
            throw HubError(
                .embeddedPostgres,
                "\(cluster) is neither empty nor a PostgreSQL cluster (no PG_VERSION): move it away or choose another data folder"
            )
        }
        if let account, !(try await account.canWrite(cluster, environment: serverEnvironment)) {
            throw HubError(
                .embeddedPostgres,
                "user \(account.name) cannot write to \(cluster); give it that folder, or choose another data folder (--data-dir)"
            )
        }
        logger.info("initializing a new PostgreSQL cluster", metadata: ["hub.pg.data_dir": "\(cluster)"])
        let password = randomPassword()
        try writePrivateFile(configuration.passwordFile, contents: password, owner: nil)
        // initdb reads the superuser password from a file; it never appears in arguments.
        let passwordInput = serverDirectory + "/.initdb-password"
        try writePrivateFile(passwordInput, contents: password, owner: account)
        defer { unlink(passwordInput) }
        var arguments = [
            "-D", cluster, "-U", "tributary", "--pwfile=\(passwordInput)", "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256", "-E", "UTF8", "--no-locale",
        ]
        if !configuration.durable { arguments.append("--no-sync") }
        let command = try account.command(binaries.initdb, arguments)
        let (status, output) = try await ChildProcess.run(command.0, command.1, environment: serverEnvironment)
        guard status == 0 else {
            // Leave the folder empty so the next start can try again.
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: cluster)) ?? [] {
                try? FileManager.default.removeItem(atPath: cluster + "/" + entry)
            }
            throw HubError(.embeddedPostgres, "initdb failed (exit \(status)): \(lastLines(output, count: 5))")
        }
    }

    func readPassword() throws -> Secret<String> {
        guard let text = try? String(contentsOfFile: configuration.passwordFile, encoding: .utf8), !text.isEmpty else {
            throw HubError(
                .embeddedPostgres,
                "\(configuration.passwordFile) is missing, so the cluster in \(clusterDirectory) cannot be opened; restore it, or remove \(configuration.rootDirectory) to start over"
            )
        }
        return Secret(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Starts the postmaster in its own session and waits until it accepts connections.
    func launch(binaries: PostgresBinaries, account: ServerAccount?, port: Int) async throws -> ChildProcess {
        var arguments = [
            "-D", clusterDirectory, "-p", "\(port)",
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
        ]
        var settings = configuration.settings
        if !configuration.durable {
            settings["fsync"] = settings["fsync"] ?? "off"
            settings["synchronous_commit"] = settings["synchronous_commit"] ?? "off"
            settings["full_page_writes"] = settings["full_page_writes"] ?? "off"
        }
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) { arguments += ["-c", "\(name)=\(value)"] }
        let command = try account.command(binaries.postgres, arguments)
        let logStart = (try? FileManager.default.attributesOfItem(atPath: configuration.logFile)[.size] as? UInt64) ?? 0
        let server = try ChildProcess.spawn(
            command.0, command.1, environment: serverEnvironment, outputPath: configuration.logFile, newSession: true
        )
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if server.exitStatusIfExited() != nil {
                let log = newLogText(since: logStart)
                if log.contains("could not bind") || log.contains("Address already in use") { throw PortInUse(port: port) }
                throw HubError(.embeddedPostgres, "PostgreSQL exited while starting: \(lastLines(log, count: 5)) (full log: \(configuration.logFile))")
            }
            if let pidFile = PostmasterPIDFile.read(dataDirectory: clusterDirectory),
                pidFile.pid == server.pid, pidFile.status == "ready"
            {
                return server
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        server.signal(SIGQUIT)
        _ = await server.waitForExit(timeout: .seconds(5))
        throw HubError(.embeddedPostgres, "PostgreSQL did not become ready within 60 s (log: \(configuration.logFile))")
    }

    /// A tiny shell that stops the server once this process is gone, however it went: the
    /// server must not outlive a `kill -9`ed Tributary. It blocks reading a pipe whose only
    /// write end this process holds (close-on-exec, so no other child inherits it); the kernel
    /// closes that end when this process exits, the shell reads end-of-file, and signals the
    /// server's fast shutdown.
    func startWatchdog(serverPID: Int32) throws -> Watchdog {
        var descriptors: [Int32] = [0, 0]
        // A socket pair rather than pipe2, which Swift's Glibc module doesn't export; either way
        // close-on-exec is set atomically, so a process spawned concurrently can't inherit it.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &descriptors) == 0 else {
            throw HubError(.embeddedPostgres, "cannot create the watchdog pipe: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptors[0]) }
        do {
            let shell = try ChildProcess.spawn(
                "/bin/sh", ["-c", #"read -r _; kill -INT "$0" 2>/dev/null"#, "\(serverPID)"],
                environment: serverEnvironment, inputDescriptor: descriptors[0], outputPath: nil, newSession: true
            )
            return Watchdog(shell: shell, lifeline: descriptors[1])
        } catch {
            close(descriptors[1])
            throw error
        }
    }

    var serverEnvironment: [String: String] {
        ["PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"]
    }

    private func newLogText(since offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: configuration.logFile) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }
}

func lastLines(_ text: String, count: Int) -> String {
    text.split(separator: "\n").suffix(count).joined(separator: " | ")
}

func randomPassword() -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    var generator = SystemRandomNumberGenerator()
    return String((0..<32).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
}

/// Writes a file only this user can read, created with that mode (never briefly readable).
public func writePrivateFile(_ path: String, contents: String) throws {
    try writePrivateFile(path, contents: contents, owner: nil)
}

/// Writes a file only its owner can read, created with that mode (never briefly readable).
func writePrivateFile(_ path: String, contents: String, owner: ServerAccount?) throws {
    unlink(path)
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        throw HubError(.embeddedPostgres, "cannot create \(path): \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    let bytes = Array(contents.utf8)
    guard write(descriptor, bytes, bytes.count) == bytes.count else {
        throw HubError(.embeddedPostgres, "cannot write \(path): \(String(cString: strerror(errno)))")
    }
    try owner?.chown(path)
}

/// Asks the kernel for a free loopback port. Another process could take it before the caller
/// binds it; callers retry on "address in use".
public func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw HubError(.embeddedPostgres, "cannot open a socket to find a free port") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
        }
    }
    guard bound else { throw HubError(.embeddedPostgres, "cannot bind a loopback socket to find a free port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A short, stable name for a path (FNV-1a, 64 bits, hex): no security rests on it, only on
/// the root-owned folder it names.
func stableDigest(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
}
