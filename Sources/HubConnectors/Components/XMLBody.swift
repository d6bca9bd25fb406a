import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// `XmlDecoder`: an XML body read as the CDK reads it, with `xmltodict.parse` and its defaults.
/// An element's attributes become `@name` keys (in name order here, where xmltodict keeps the
/// document's); its children become keys, a repeated child a list; its text (stripped, the
/// pieces around children joined) is the element's value, or `#text` beside attributes or
/// children; an empty element is null. Namespace prefixes stay part of the names. A body that is
/// not well-formed XML decodes to an empty object, as the CDK logs it and yields `{}`.
///
/// Foundation's `XMLParser` (libxml2) reads it, with external entities never resolved: a
/// third party's body must not make the worker open files or URLs.
enum XMLBody {
    static func decode(_ body: [UInt8]) -> PyValue {
        let parser = XMLParser(data: Data(body))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.shouldReportNamespacePrefixes = false
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse(), builder.depthExceeded == false, let root = builder.root else { return .dict(PyDict()) }
        var document = PyDict()
        document[root.name] = root.value
        return .dict(document)
    }

    /// The most elements deep a body may nest: each level is a frame here.
    static let maxDepth = 512

    private final class Builder: NSObject, XMLParserDelegate {
        /// An open element: its attributes, its children by name in first-seen order (each name's
        /// values in document order), and its text pieces. The element's value is built once, at
        /// its end, so a document of many siblings costs linear time, not a copy per sibling.
        struct Frame {
            var attributes: [(String, PyValue)] = []
            var children: [(name: String, values: [PyValue])] = []
            var childIndex: [String: Int] = [:]
            var text: [String] = []

            mutating func add(_ name: String, _ value: PyValue) {
                if let index = childIndex[name] {
                    children[index].values.append(value)
                } else {
                    childIndex[name] = children.count
                    children.append((name, [value]))
                }
            }
        }
        var stack: [Frame] = []
        var root: (name: String, value: PyValue)?
        var depthExceeded = false

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            guard stack.count < XMLBody.maxDepth else {
                depthExceeded = true
                parser.abortParsing()
                return
            }
            var frame = Frame()
            frame.attributes = attributes.sorted(by: { $0.key < $1.key }).map { ("@" + $0.key, .string($0.value)) }
            stack.append(frame)
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text.append(string)
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text.append(String(decoding: block, as: UTF8.self))
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            guard let frame = stack.popLast() else { return }
            let joined = frame.text.joined().trimmingCharacters(in: .whitespacesAndNewlines)
            let value: PyValue
            if frame.attributes.isEmpty, frame.children.isEmpty {
                value = joined.isEmpty ? .none : .string(joined)
            } else {
                // xmltodict's order: attributes, children as first seen, then `#text`; a name
                // seen twice holds a list.
                var item = PyDict()
                for (key, attribute) in frame.attributes { item[key] = attribute }
                for child in frame.children { item[child.name] = child.values.count == 1 ? child.values[0] : .list(child.values) }
                if !joined.isEmpty {
                    if case .list(var texts)? = item["#text"] {
                        texts.append(.string(joined))
                        item["#text"] = .list(texts)
                    } else if let existing = item["#text"] {
                        item["#text"] = .list([existing, .string(joined)])
                    } else {
                        item["#text"] = .string(joined)
                    }
                }
                value = .dict(item)
            }
            guard !stack.isEmpty else {
                root = (elementName, value)
                return
            }
            stack[stack.count - 1].add(elementName, value)
        }
    }
}
