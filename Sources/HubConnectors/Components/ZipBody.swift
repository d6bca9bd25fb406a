import Foundation
import ZIPFoundation

/// `ZipfileDecoder`: each entry of a ZIP archive decoded by the inner decoder, in the archive's
/// order, their bodies one after another (as the CDK yields them). An archive that is not ZIP,
/// or an entry its decoder cannot read, fails the page as the CDK fails it: a directory entry is
/// read as an empty file too, which a JSON decoder refuses (the CDK's `JsonParser` does). The archive is read in
/// memory with ZIPFoundation; what it expands to is bounded in files and in bytes, since a small
/// archive can hold a thousandfold more.
enum ZipBody {
    static let maxFiles = 10_000

    static func decode(_ body: [UInt8], inner: ResponseDecoder, path: ManifestPath, maxExpanded: Int) throws -> PyValue {
        let archive: Archive
        do {
            archive = try Archive(data: Data(body), accessMode: .read)
        } catch {
            throw ResponseDecodingError(message: "the response is not a valid ZIP archive")
        }
        var bodies: [PyValue] = []
        var expanded = 0
        var files = 0
        for entry in archive where entry.type != .symlink {
            files += 1
            guard files <= maxFiles else { throw ResponseDecodingError(message: "the ZIP archive holds more than \(maxFiles) files") }
            // The declared size is the archive's word; the bytes are counted as they come too.
            guard entry.uncompressedSize <= UInt64(maxExpanded - expanded) else {
                throw ResponseDecodingError(message: "the ZIP archive expands past \(maxExpanded) bytes")
            }
            var content = Data()
            if entry.type == .file {
                do {
                    _ = try archive.extract(entry) { chunk in
                        expanded += chunk.count
                        guard expanded <= maxExpanded else { throw ZipLimit() }
                        content.append(chunk)
                    }
                } catch is ZipLimit {
                    throw ResponseDecodingError(message: "the ZIP archive expands past \(maxExpanded) bytes")
                } catch {
                    throw ResponseDecodingError(message: "file \(entry.path) of the ZIP archive could not be read")
                }
            }
            if case .json = inner, content.allSatisfy({ [0x20, 0x0A, 0x0D, 0x09].contains($0) }) {
                throw ResponseDecodingError(message: "file \(entry.path) of the ZIP archive is empty, and a JSON decoder needs a document")
            }
            let decoded: PyValue
            do {
                // A gzipped entry inflates within what is left of the archive's budget, and
                // counts against it: the cap holds for the archive as a whole.
                var bytes = Array(content)
                var decoder = inner
                if case .gzip(let innermost) = inner {
                    if let plain = try ResponseDecoder.inflate(bytes, maxDecompressed: max(maxExpanded - expanded, 0)) {
                        expanded += plain.count
                        bytes = plain
                    }
                    decoder = innermost
                }
                decoded = try decoder.decode(bytes, path: path, maxDecompressed: max(maxExpanded - expanded, 0))
            } catch let error as ResponseDecodingError {
                throw ResponseDecodingError(message: "file \(entry.path) of the ZIP archive could not be parsed: \(error.message)")
            }
            if case .list(let items) = decoded { bodies += items } else { bodies.append(decoded) }
        }
        return .list(bodies)
    }

    private struct ZipLimit: Error {}
}
