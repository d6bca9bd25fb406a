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
        struct Frame {
            var item: PyDict?
            var text: [String] = []
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
            var item: PyDict?
            if !attributes.isEmpty {
                var dict = PyDict()
                for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { dict["@" + key] = .string(value) }
                item = dict
            }
            stack.append(Frame(item: item))
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
            let text: PyValue? = joined.isEmpty ? nil : .string(joined)
            let value: PyValue
            if var item = frame.item {
                if let text { Self.push(&item, "#text", text) }
                value = .dict(item)
            } else {
                value = text ?? .none
            }
            guard !stack.isEmpty else {
                root = (elementName, value)
                return
            }
            var parent = stack[stack.count - 1].item ?? PyDict()
            Self.push(&parent, elementName, value)
            stack[stack.count - 1].item = parent
        }

        /// xmltodict's `push_data`: a second value under a key makes a list.
        static func push(_ dict: inout PyDict, _ key: String, _ value: PyValue) {
            switch dict[key] {
            case .list(var items)?:
                items.append(value)
                dict[key] = .list(items)
            case let existing?:
                dict[key] = .list([existing, value])
            case nil:
                dict[key] = value
            }
        }
    }
}
