/// Splits a SQL script into statements, because PostgresNIO speaks only the extended query
/// protocol, which takes one statement at a time.
///
/// Semicolons inside string literals (`'…'`, `E'…'` with backslash escapes), quoted
/// identifiers, dollar-quoted bodies (`$fn$ … $fn$`) and comments (`--`, nested `/* */`) do
/// not split. Statements holding only comments and white space are dropped.
enum SQLScript {
    static func statements(in script: String) -> [String] {
        let bytes = Array(script.utf8)
        var statements: [String] = []
        var start = 0
        var index = 0
        var hasCode = false

        func flush(upTo end: Int) {
            if hasCode {
                let text = String(decoding: bytes[start..<end], as: UTF8.self)
                statements.append(text.trimmingWhitespace())
            }
            hasCode = false
        }

        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "-") where next(bytes, index) == UInt8(ascii: "-"):
                index = skipLineComment(bytes, from: index)
            case UInt8(ascii: "/") where next(bytes, index) == UInt8(ascii: "*"):
                index = skipBlockComment(bytes, from: index)
            case UInt8(ascii: "'"):
                hasCode = true
                index = skipQuoted(bytes, from: index, quote: byte, backslashEscapes: isEscapeStringPrefix(bytes, index))
            case UInt8(ascii: "\""):
                hasCode = true
                index = skipQuoted(bytes, from: index, quote: byte, backslashEscapes: false)
            case UInt8(ascii: "$"):
                hasCode = true
                index = skipDollarQuoted(bytes, from: index)
            case UInt8(ascii: ";"):
                flush(upTo: index)
                index += 1
                start = index
            default:
                if !isWhitespace(byte) { hasCode = true }
                index += 1
            }
        }
        flush(upTo: bytes.count)
        return statements
    }

    private static func next(_ bytes: [UInt8], _ index: Int) -> UInt8? {
        index + 1 < bytes.count ? bytes[index + 1] : nil
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    /// `E'…'` (not `some_e'…'`) turns on C-style backslash escapes inside the literal.
    private static func isEscapeStringPrefix(_ bytes: [UInt8], _ quoteIndex: Int) -> Bool {
        guard quoteIndex >= 1, bytes[quoteIndex - 1] | 0x20 == UInt8(ascii: "e") else { return false }
        return quoteIndex == 1 || !isIdentifierByte(bytes[quoteIndex - 2])
    }

    private static func skipLineComment(_ bytes: [UInt8], from index: Int) -> Int {
        var i = index + 2
        while i < bytes.count, bytes[i] != 0x0A { i += 1 }
        return i
    }

    private static func skipBlockComment(_ bytes: [UInt8], from index: Int) -> Int {
        var depth = 0
        var i = index
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "/"), next(bytes, i) == UInt8(ascii: "*") {
                depth += 1
                i += 2
            } else if bytes[i] == UInt8(ascii: "*"), next(bytes, i) == UInt8(ascii: "/") {
                depth -= 1
                i += 2
                if depth == 0 { return i }
            } else {
                i += 1
            }
        }
        return i
    }

    private static func skipQuoted(_ bytes: [UInt8], from index: Int, quote: UInt8, backslashEscapes: Bool) -> Int {
        var i = index + 1
        while i < bytes.count {
            if backslashEscapes, bytes[i] == UInt8(ascii: "\\") {
                i += 2
            } else if bytes[i] == quote {
                // A doubled quote is an escaped quote, not the end.
                if next(bytes, i) == quote { i += 2 } else { return i + 1 }
            } else {
                i += 1
            }
        }
        return i
    }

    /// `$tag$ … $tag$`; a `$` that starts no tag (`$1`, `a$b`) is ordinary text.
    private static func skipDollarQuoted(_ bytes: [UInt8], from index: Int) -> Int {
        if index > 0, isIdentifierByte(bytes[index - 1]) { return index + 1 }
        var tagEnd = index + 1
        while tagEnd < bytes.count, bytes[tagEnd] != UInt8(ascii: "$") {
            let byte = bytes[tagEnd]
            let isDigit = byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
            guard isIdentifierByte(byte), !(isDigit && tagEnd == index + 1) else { return index + 1 }
            tagEnd += 1
        }
        guard tagEnd < bytes.count else { return index + 1 }
        let tag = bytes[index...tagEnd]
        var i = tagEnd + 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "$"), i + tag.count <= bytes.count, bytes[i..<(i + tag.count)].elementsEqual(tag) {
                return i + tag.count
            }
            i += 1
        }
        return i
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
