/// Python string operations whose edge cases differ from Swift's: `split()` without a
/// separator, `strip(chars)`, `title()`, `str.format`.
enum StringFunctions {
    static func split(_ string: String, separator: String?, limit: Int, fromRight: Bool) -> [String] {
        guard let separator else {
            // Whitespace split: runs of whitespace separate, leading/trailing ones vanish.
            var words = string.split(whereSeparator: \.isWhitespace).map(String.init)
            if limit >= 0, words.count > limit + 1 {
                if fromRight {
                    let head = words.count - limit
                    words = [words[..<head].joined(separator: " ")] + words[head...]
                } else {
                    words = Array(words[..<limit]) + [words[limit...].joined(separator: " ")]
                }
            }
            return words
        }
        var parts = string.components(separatedBy: separator)
        if limit >= 0, parts.count > limit + 1 {
            if fromRight {
                let head = parts.count - limit
                parts = [parts[..<head].joined(separator: separator)] + parts[head...]
            } else {
                parts = Array(parts[..<limit]) + [parts[limit...].joined(separator: separator)]
            }
        }
        return parts
    }

    /// `str.replace`, refused before it builds a result over the size limit (a long text with
    /// many matches replaced by a long text grows as their product).
    static func replace(_ string: String, _ old: String, with new: String) throws -> String {
        guard !old.isEmpty else { return string }
        if new.utf8.count > old.utf8.count {
            let matches = string.components(separatedBy: old).count - 1
            try ExpressionLimits.checkRepeat(new.utf8.count - old.utf8.count, times: matches, "replace")
            try ExpressionLimits.checkSize(string.utf8.count + (new.utf8.count - old.utf8.count) * matches, "replace")
        }
        return string.replacingOccurrences(of: old, with: new)
    }

    static func strip(_ string: String, characters: Set<Character>?, leading: Bool, trailing: Bool) -> String {
        let shouldStrip: (Character) -> Bool = { characters?.contains($0) ?? $0.isWhitespace }
        var slice = Substring(string)
        if leading { slice = slice.drop(while: shouldStrip) }
        if trailing { while let last = slice.last, shouldStrip(last) { slice.removeLast() } }
        return String(slice)
    }

    static func titled(_ string: String, everyWord: Bool) -> String {
        var output = ""
        var atWordStart = true
        for (offset, character) in string.enumerated() {
            if everyWord {
                output += atWordStart ? character.uppercased() : character.lowercased()
                atWordStart = !character.isLetter
            } else {
                output += offset == 0 ? character.uppercased() : character.lowercased()
            }
        }
        return output
    }

    /// `str.format` with `{}`, `{0}` and `{name}` fields (no format specs beyond none).
    static func format(_ template: String, _ args: [PyValue], _ kwargs: [String: PyValue]) throws -> String {
        var output = ""
        var automatic = 0
        var iterator = template.makeIterator()
        while let character = iterator.next() {
            if character == "{" {
                var field = ""
                var closed = false
                while let next = iterator.next() {
                    if next == "{", field.isEmpty { output.append("{"); closed = true; field = "\u{0}"; break }
                    if next == "}" { closed = true; break }
                    field.append(next)
                }
                guard closed else { throw ExpressionError("Single '{' encountered in format string") }
                if field == "\u{0}" { continue }
                let name = field.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                let value: PyValue?
                if name.isEmpty {
                    value = automatic < args.count ? args[automatic] : nil
                    automatic += 1
                } else if let index = Int(name) {
                    value = index < args.count ? args[index] : nil
                } else {
                    value = kwargs[name]
                }
                guard let value else { throw ExpressionError("format field {\(name)} has no argument") }
                output += try ExpressionLimits.str(value, "format")
                try ExpressionLimits.checkSize(output.utf8.count, "format")
            } else if character == "}" {
                if iterator.next() != "}" { throw ExpressionError("Single '}' encountered in format string") }
                output.append("}")
            } else {
                output.append(character)
            }
        }
        return output
    }
}

import Foundation
