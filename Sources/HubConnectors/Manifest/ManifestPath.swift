/// A location inside a resolved manifest, spelled as users read it:
/// `streams[2].retriever.paginator.page_token_option`.
public struct ManifestPath: Sendable, Hashable, CustomStringConvertible {
    enum Step: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    let steps: [Step]

    public static let root = ManifestPath(steps: [])

    public func appending(_ key: String) -> ManifestPath { ManifestPath(steps: steps + [.key(key)]) }
    public func appending(_ index: Int) -> ManifestPath { ManifestPath(steps: steps + [.index(index)]) }

    public var description: String {
        var text = ""
        for step in steps {
            switch step {
            case .key(let key): text += text.isEmpty ? key : "." + key
            case .index(let index): text += "[\(index)]"
            }
        }
        return text.isEmpty ? "(manifest root)" : text
    }
}

/// A manifest problem, located.
public struct ManifestError: Error, Sendable, CustomStringConvertible {
    public let path: ManifestPath
    public let message: String

    public init(_ path: ManifestPath, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
