import Foundation

/// `hub.yaml`'s `runtime:`: a connector that runs as a process speaking the Airbyte protocol
/// (any Airbyte source published on PyPI), not as a manifest in our engine.
///
/// ```yaml
/// runtime:
///   pypi: airbyte-source-faker==7.2.1   # one exact version: a connector version runs one build
///   entrypoint: source-faker            # its console script (default: the name without airbyte-)
///   timeout: PT2H                       # a run taking longer is ended (default PT6H)
///   memory_mb: 512                      # its data segment's limit (default 1024)
/// ```
///
/// Every value is bounded and shaped here: the package name and version reach `pip`'s command
/// line, so neither may look like an option or hold anything but a name.
public struct ProcessRuntime: Sendable, Equatable {
    public let package: String
    public let version: String
    public let entrypoint: String
    public let timeoutSeconds: Int
    public let memoryMegabytes: Int

    public static let timeoutRange = 60...604_800
    public static let memoryRange = 128...65_536

    public init(package: String, version: String, entrypoint: String? = nil, timeoutSeconds: Int = 21_600, memoryMegabytes: Int = 1_024) throws {
        guard Self.matches(package, #"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"#) else {
            throw ManifestError(.root.appending("runtime").appending("pypi"), "\(PyRepr.string(package)) is not a PyPI package name")
        }
        guard Self.matches(version, #"^[0-9][0-9A-Za-z.+!_-]{0,63}$"#) else {
            throw ManifestError(.root.appending("runtime").appending("pypi"),
                                "\(PyRepr.string(version)) is not an exact version; pin one, as in airbyte-source-faker==7.2.1")
        }
        let script = entrypoint ?? (package.lowercased().hasPrefix("airbyte-") ? String(package.dropFirst("airbyte-".count)) : package)
        guard Self.matches(script, #"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"#) else {
            throw ManifestError(.root.appending("runtime").appending("entrypoint"), "\(PyRepr.string(script)) is not a console script name")
        }
        guard Self.timeoutRange.contains(timeoutSeconds) else {
            throw ManifestError(.root.appending("runtime").appending("timeout"), "must be from one minute (PT1M) to a week (P7D)")
        }
        guard Self.memoryRange.contains(memoryMegabytes) else {
            throw ManifestError(.root.appending("runtime").appending("memory_mb"), "must be from 128 to 65536")
        }
        self.package = package
        self.version = version
        self.entrypoint = script
        self.timeoutSeconds = timeoutSeconds
        self.memoryMegabytes = memoryMegabytes
    }

    /// Reads `runtime:` from a sidecar.
    init(_ node: ComponentNode) throws {
        let keys = ["pypi", "entrypoint", "timeout", "memory_mb"]
        for key in node.fields.keys.map(PyRepr.str) where !keys.contains(key) {
            throw ManifestError(node.path.appending(key), "unknown setting; expected one of " + keys.joined(separator: ", "))
        }
        let pypi = try node.requiredString("pypi")
        let parts = pypi.components(separatedBy: "==")
        guard parts.count == 2 else {
            throw ManifestError(node.path.appending("pypi"), "expected PACKAGE==VERSION, as in airbyte-source-faker==7.2.1, found \(PyRepr.string(pypi))")
        }
        var timeout = 21_600
        if let text = try node.string("timeout") {
            guard let parsed = try? ISO8601.parseDuration(text), parsed.months == 0 else {
                throw ManifestError(node.path.appending("timeout"), "expected an ISO 8601 duration such as PT2H, found \(PyRepr.string(text))")
            }
            timeout = Int(min(parsed.micros / 1_000_000, Int64(Int32.max)))
        }
        try self.init(package: parts[0], version: parts[1], entrypoint: try node.string("entrypoint"), timeoutSeconds: timeout,
                      memoryMegabytes: try node.int("memory_mb") ?? 1_024)
    }

    /// `package==version`, as pip takes it.
    public var requirement: String { "\(package)==\(version)" }

    /// The whole text matches (ICU's `$` would also accept a trailing newline).
    private static func matches(_ text: String, _ pattern: String) -> Bool {
        !text.contains(where: \.isNewline) && text.range(of: pattern, options: .regularExpression) != nil
    }
}
