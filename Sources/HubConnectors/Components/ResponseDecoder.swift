import CompressNIO
import Foundation
import NIOCore

/// A retriever's `decoder`: how a response body becomes the bodies its extractor reads. A
/// decoder that yields several (a JSON list, JSON lines, CSV rows) gives them as a list, which
/// the extractor reads element by element and the paginator by its first element, as the
/// CDK's decoders yield them one by one.
indirect enum ResponseDecoder: Sendable {
    case json
    /// One JSON value a line; a line that is not JSON is skipped, as the CDK skips it.
    case jsonLines
    /// Each row an object keyed by the header row (Python's `csv.DictReader`).
    case csv(delimiter: Character, noneValues: Set<String>)
    /// Each line as `{"record": line}`.
    case lines
    /// The elements of the array at a dotted path of one JSON document (`JsonItemsDecoder`,
    /// ijson's `PATH.item`): a segment `item` steps into an array's elements.
    case jsonItems(path: [String])
    /// gzip-compressed data (recognized by its magic bytes; anything else passes through)
    /// holding `inner`.
    case gzip(ResponseDecoder)
    /// `XmlDecoder`: the document as xmltodict reads it (`XMLBody`).
    case xml
    /// `ZipfileDecoder`: every file of a ZIP archive through `inner` (`ZipBody`).
    case zip(ResponseDecoder)

    /// A decompressed body may be at most this large: a small gzip bomb expands a thousandfold.
    static let maxDecompressedBytes = 256 << 20

    init(_ node: ComponentNode?) throws {
        guard let node else { self = .json; return }
        switch node.type {
        case "JsonDecoder", nil: self = .json
        case "JsonlDecoder": self = .jsonLines
        case "XmlDecoder": self = .xml
        case "ZipfileDecoder":
            let inner = try ResponseDecoder(try node.requiredChild("decoder"))
            if case .zip = inner { throw ManifestError(node.path.appending("decoder"), "a ZIP decoder cannot hold another") }
            self = .zip(inner)
        case "IterableDecoder": self = .lines
        case "JsonItemsDecoder":
            try Self.requireUTF8(node)
            guard let path = try node.string("items_path"), !path.isEmpty else {
                throw ManifestError(node.path.appending("items_path"), "is required: the dotted path of the array whose elements are the records, such as data.users")
            }
            // ijson's syntax, not JSONPath: the CDK appends `.item` and passes it on.
            guard !path.hasPrefix("$"), !path.contains("[") else {
                throw ManifestError(node.path.appending("items_path"), "is ijson's dotted path (data.users), not JSONPath: found \(PyRepr.string(path))")
            }
            self = .jsonItems(path: path.split(separator: ".", omittingEmptySubsequences: false).map(String.init) + ["item"])
        case "CsvDecoder":
            try Self.requireUTF8(node)
            var delimiter = try node.string("delimiter") ?? ","
            // As the CDK: a delimiter written with a backslash is an escape (`\t`).
            if delimiter.hasPrefix("\\") {
                delimiter = ["\\t": "\t", "\\n": "\n", "\\r": "\r", "\\\\": "\\"][delimiter] ?? delimiter
            }
            guard delimiter.count == 1, let character = delimiter.first, character != "\"" else {
                throw ManifestError(node.path.appending("delimiter"), "must be one character other than a quote, found \(PyRepr.string(delimiter))")
            }
            self = .csv(delimiter: character, noneValues: Set(try node.stringList("set_values_to_none")))
        case "GzipDecoder":
            let inner = try ResponseDecoder(try node.requiredChild("decoder"))
            if case .gzip = inner { throw ManifestError(node.path.appending("decoder"), "a gzip decoder cannot hold another") }
            self = .gzip(inner)
        default:
            throw ManifestError(node.path, "unsupported decoder \(node.kindDescription)")
        }
    }

    /// Text encodings other than UTF-8 are refused rather than misread.
    private static func requireUTF8(_ node: ComponentNode) throws {
        let encoding = (try node.string("encoding") ?? "utf-8").lowercased().replacingOccurrences(of: "_", with: "-")
        guard ["utf-8", "utf8", "ascii", "us-ascii"].contains(encoding) else {
            throw ManifestError(node.path.appending("encoding"), "only UTF-8 is supported, found \(PyRepr.string(encoding))")
        }
    }

    /// Whether the CDK reads the body as a stream, once: its paginator then finds the body
    /// consumed by the extractor and sees an empty one (so a gzipped body's `response.next` is
    /// never there; pagination by headers or page size still works).
    var consumesBody: Bool {
        switch self {
        case .json, .xml, .zip: false
        default: true
        }
    }

    /// Whether a paginator can read what it yields: the CDK pages only JSON (plain or gzipped).
    var supportsPagination: Bool {
        switch self {
        case .json, .xml: true
        case .gzip(let inner), .zip(let inner): inner.supportsPagination
        default: false
        }
    }

    func decode(_ body: [UInt8], path: ManifestPath, maxDecompressed: Int = ResponseDecoder.maxDecompressedBytes) throws -> PyValue {
        switch self {
        case .json:
            if body.allSatisfy({ [0x20, 0x0A, 0x0D, 0x09].contains($0) }) { return .dict(PyDict()) }
            return try JSONBody.decode(body, path: path)
        case .xml:
            return XMLBody.decode(body)
        case .zip(let inner):
            return try ZipBody.decode(body, inner: inner, path: path, maxExpanded: maxDecompressed)
        case .jsonLines:
            return .list(Self.lines(body).compactMap { line in try? JSONBody.decode(Array(line), path: path) })
        case .lines:
            return .list(Self.lines(body).map { line in
                var record = PyDict()
                record["record"] = .string(String(decoding: line, as: UTF8.self))
                return .dict(record)
            })
        case .jsonItems(let itemsPath):
            return .list(Self.items(at: itemsPath[...], in: try JSONBody.decode(body, path: path)))
        case .csv(let delimiter, let noneValues):
            return .list(CSVRows.parse(String(decoding: body, as: UTF8.self), delimiter: delimiter).dictionaries(noneValues: noneValues))
        case .gzip(let inner):
            return try inner.decode(try Self.inflate(body, maxDecompressed: maxDecompressed) ?? body, path: path)
        }
    }

    /// The plain bytes of a gzip body (recognized by its magic bytes), or nil for anything else.
    static func inflate(_ body: [UInt8], maxDecompressed: Int) throws -> [UInt8]? {
        guard body.count >= 2, body[0] == 0x1F, body[1] == 0x8B else { return nil }
        var buffer = ByteBuffer(bytes: body)
        do {
            let plain = try buffer.decompress(with: .gzip(), maxSize: maxDecompressed)
            // A body cut short inflates to whatever it held; its trailer's size (the length
            // modulo 2^32, little-endian, in the last four bytes) then disagrees.
            let trailer = body.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard body.count >= 18, trailer == UInt32(truncatingIfNeeded: plain.readableBytes) else {
                throw ResponseDecodingError(message: "the gzip body ended before its end-of-stream marker")
            }
            return Array(plain.readableBytesView)
        } catch let error as CompressNIOError {
            throw ResponseDecodingError(message: error == .bufferOverflow
                ? "the gzip body expands past \(maxDecompressed) bytes" : "the gzip body is corrupt (\(error))")
        }
    }

    /// What ijson's `items(document, PATH)` yields: `item` steps into an array's elements (or,
    /// as in ijson, an object's key named `item`), any other segment into an object's key.
    static func items(at path: ArraySlice<String>, in value: PyValue) -> [PyValue] {
        guard let segment = path.first else { return [value] }
        let rest = path.dropFirst()
        switch value {
        case .list(let elements) where segment == "item": return elements.flatMap { items(at: rest, in: $0) }
        case .dict(let fields): return fields[segment].map { items(at: rest, in: $0) } ?? []
        default: return []
        }
    }

    /// Lines as Python's `iter_lines` gives them: split at `\n`, `\r\n` or `\r`, the final empty
    /// piece dropped.
    static func lines(_ body: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0, index = 0
        while index < body.count {
            let byte = body[index]
            if byte == 0x0A || byte == 0x0D {
                lines.append(body[start..<index])
                if byte == 0x0D, index + 1 < body.count, body[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < body.count { lines.append(body[start...]) }
        return lines
    }
}
