import Foundation
import CompressNIO
@testable import HubConnectors
import NIOCore
import Testing

/// What a third party's body can do to the decoders.
@Suite("Response decoders")
struct ResponseDecoderTests {
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        return Array(try buffer.compress(with: .gzip()).readableBytesView)
    }

    @Test("JsonItemsDecoder: ijson's dotted path is required, JSONPath is refused, and invalid JSON is an error")
    func jsonItemsPaths() throws {
        let decoder = ResponseDecoder.jsonItems(path: ["data", "item"])
        var record = PyDict()
        record["id"] = .int(1)
        #expect(try decoder.decode(Array(#"{"data": [{"id": 1}, 2]}"#.utf8), path: .root) == .list([.dict(record), .int(2)]))
        #expect(try decoder.decode(Array(#"{"data": {"other": []}}"#.utf8), path: .root) == .list([]))
        #expect(throws: (any Error).self) { try decoder.decode(Array("{not json".utf8), path: .root) }
        for (items, message) in [("", "is required"), ("$.data.users[*]", "not JSONPath")] {
            let manifest = """
                version: 6.0.0
                streams:
                  - type: DeclarativeStream
                    name: items
                    retriever:
                      type: SimpleRetriever
                      requester: {type: HttpRequester, url_base: "https://api.example.com", path: /items}
                      record_selector: {extractor: {field_path: []}}
                      decoder: {type: JsonItemsDecoder, items_path: "\(items)"}
                """
            let error = #expect(throws: (any Error).self) { try DeclarativeSource(yaml: manifest) }
            #expect(String(describing: error).contains(message), "\(String(describing: error))")
        }
    }

    @Test("a gzip bomb stops at the limit with an error, not at the end of memory")
    func gzipBombIsBounded() throws {
        // 4 MiB of zeros compress to about 4 KiB.
        let bomb = try Self.gzip([UInt8](repeating: 0x30, count: 4 << 20))
        #expect(bomb.count < 64 << 10)
        let decoder = ResponseDecoder.gzip(.lines)
        do {
            _ = try decoder.decode(bomb, path: .root, maxDecompressed: 1 << 20)
            Issue.record("a body expanding past the limit was decoded")
        } catch let error as ResponseDecodingError {
            #expect(error.message.contains("expands past 1048576 bytes"), "\(error)")
        }
        // Under the limit, the same body decodes.
        let small = try Self.gzip(Array("{\"id\": 1}\n{\"id\": 2}\n".utf8))
        #expect(try ResponseDecoder.gzip(.jsonLines).decode(small, path: .root).listCount == 2)
        // Corrupt data after the magic bytes is an error naming it.
        #expect(throws: ResponseDecodingError.self) { try decoder.decode([0x1F, 0x8B, 0x08, 0, 1, 2, 3], path: .root) }
    }

    /// A hostile XML body decodes to `{}` (as a body that is not XML does), without expanding
    /// entities past libxml2's limits, reading a local file, or recursing without bound.
    @Test("XmlDecoder: entity bombs, external entities and deep nesting give {} rather than memory, files or a crash")
    func hostileXML() throws {
        let decoder = try ResponseDecoder(ComponentNode(.dict({ var d = PyDict(); d["type"] = .string("XmlDecoder"); return d }()), path: .root))
        var laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n"
        laughs += "<!ENTITY lol1 \"" + String(repeating: "&lol;", count: 10) + "\">\n"
        for level in 2...9 { laughs += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1);", count: 10) + "\">\n" }
        laughs += "]>\n<lolz>&lol9;</lolz>"
        let expanded = try decoder.decode(Array(laughs.utf8), path: .root)
        // libxml2 refuses the amplification; at most what it allows comes through, never 10^9 lols.
        #expect(expanded.jsonText.utf8.count < 10_000_000)

        let external = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>"
        let read = try decoder.decode(Array(external.utf8), path: .root).jsonText
        #expect(!read.contains("root:"), "an external entity was resolved: \(read.prefix(200))")

        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        #expect(try decoder.decode(Array(deep.utf8), path: .root) == .dict(PyDict()))

        // Many siblings: each value is built once, at its element's end (a copy per sibling would
        // never finish on a large body).
        let wide = "<r>" + String(repeating: "<i>x</i>", count: 200_000) + "</r>"
        guard case .dict(let document) = try decoder.decode(Array(wide.utf8), path: .root), case .dict(let r)? = document["r"] else {
            Issue.record("the wide document did not decode to {r: {...}}")
            return
        }
        #expect(r["i"]?.listCount == 200_000)

        let plain = try decoder.decode(Array("<r><i n=\"1\">x</i><i>y</i><e/></r>".utf8), path: .root)
        #expect(plain.jsonText == ##"{"r":{"i":[{"@n":"1","#text":"x"},"y"],"e":null}}"##)
    }

    @Test("ZipfileDecoder: an archive expanding past the limit is refused, one within it decodes, and a non-ZIP body is an error")
    func zipLimits() throws {
        func decoder() throws -> ResponseDecoder {
            var inner = PyDict()
            inner["type"] = .string("JsonDecoder")
            var zip = PyDict()
            zip["type"] = .string("ZipfileDecoder")
            zip["decoder"] = .dict(inner)
            return try ResponseDecoder(ComponentNode(.dict(zip), path: .root))
        }
        // zeros.json: a JSON list of 50,001 zeros, 100,003 bytes deflated to 120.
        let archive = Array(Data(base64Encoded: "UEsDBBQAAAAIAByph10Gt2YxeAAAAKOGAQAKAAAAemVyb3MuanNvbu3CMQ0AAAgDMEMc80PwbwMbO5p2MwAAAAAAAAAAAAAAAAAA"
            + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            + "AAAAAAAAAECte1BLAQIUAxQAAAAIAByph10Gt2YxeAAAAKOGAQAKAAAAAAAAAAAAAACAAQAAAAB6ZXJvcy5qc29uUEsFBgAAAAAB"
            + "AAEAOAAAAKAAAAAAAA==")!)
        #expect(try decoder().decode(archive, path: .root).listCount == 50_001)
        #expect(throws: ResponseDecodingError.self) { try decoder().decode(archive, path: .root, maxDecompressed: 50_000) }
        #expect(throws: ResponseDecodingError.self) { try decoder().decode(Array("not a zip".utf8), path: .root) }

        // Three gzipped JSON-lines entries of 36,000 bytes each: under a 50,000-byte limit one by
        // one, over it together. The limit is the archive's, not each entry's.
        var gzipInner = PyDict()
        gzipInner["type"] = .string("GzipDecoder")
        var lines = PyDict()
        lines["type"] = .string("JsonlDecoder")
        gzipInner["decoder"] = .dict(lines)
        var zipOfGzip = PyDict()
        zipOfGzip["type"] = .string("ZipfileDecoder")
        zipOfGzip["decoder"] = .dict(gzipInner)
        let nested = try ResponseDecoder(ComponentNode(.dict(zipOfGzip), path: .root))
        let gzipped = Array(Data(base64Encoded: "UEsDBBQAAAAAAFWrh12Qs1oMdwAAAHcAAAAOAAAAcGFydDAuanNvbmwuZ3ofiwgAkyQXawL/7cYhEQAwCABATwwSoJdnZhk4uhNj"
            + "5l9957t5aqJFRERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERE"
            + "RETkdxaUsYNaoIwAAFBLAwQUAAAAAABVq4ddkLNaDHcAAAB3AAAADgAAAHBhcnQxLmpzb25sLmd6H4sIAJMkF2sC/+3GIREAMAgA"
            + "QE8MEqCXZ2YZOLoTY+Zffee7eWqiRURERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERE"
            + "RERERERERERERERERERE5HcWlLGDWqCMAABQSwMEFAAAAAAAVauHXZCzWgx3AAAAdwAAAA4AAABwYXJ0Mi5qc29ubC5neh+LCACT"
            + "JBdrAv/txiERADAIAEBPDBKgl2dmGTi6E2PmX33nu3lqokVERERERERERERERERERERERERERERERERERERERERERERERERERERE"
            + "REREREREREREREREREREREREREREREREREREROR3FpSxg1qgjAAAUEsBAhQDFAAAAAAAVauHXZCzWgx3AAAAdwAAAA4AAAAAAAAA"
            + "AAAAAIABAAAAAHBhcnQwLmpzb25sLmd6UEsBAhQDFAAAAAAAVauHXZCzWgx3AAAAdwAAAA4AAAAAAAAAAAAAAIABowAAAHBhcnQx"
            + "Lmpzb25sLmd6UEsBAhQDFAAAAAAAVauHXZCzWgx3AAAAdwAAAA4AAAAAAAAAAAAAAIABRgEAAHBhcnQyLmpzb25sLmd6UEsFBgAA"
            + "AAADAAMAtAAAAOkBAAAAAA==")!)
        #expect(try nested.decode(gzipped, path: .root).listCount == 12_000)
        #expect(throws: ResponseDecodingError.self) { try nested.decode(gzipped, path: .root, maxDecompressed: 50_000) }
    }

    @Test("CSV is read as Python's csv module reads it")
    func csvQuirks() {
        let rows = CSVRows.parse("a,b\r\n\"x\"\"y\",\"multi\nline\"\n\"q\"tail,plain\"quote\n\"\"\n,\n", delimiter: ",").rows
        #expect(rows == [["a", "b"], ["x\"y", "multi\nline"], ["qtail", "plain\"quote"], [""], ["", ""]])
    }
}

extension PyValue {
    var listCount: Int? { if case .list(let items) = self { items.count } else { nil } }
}
