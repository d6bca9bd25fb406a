/// Python's `datetime.strptime`: each directive matches what CPython's `_strptime` regex
/// accepts (tried in the same order, with backtracking), literals match case-insensitively,
/// whitespace matches any run of whitespace, and the whole text must be consumed.
enum PyStrptime {
    private enum Token {
        case directive(Character)
        case literal(Character)
        case whitespace
    }

    private struct Fields {
        var year = 1900, month = 1, day = 1, hour = 0, minute = 0, second = 0, microsecond = 0
        var offset: Int?
        var pm: Bool?
        var hour12: Int?
        var dayOfYear: Int?
    }

    static func parse(_ text: String, format: String) throws -> PyDateTime {
        var tokens: [Token] = []
        var iterator = format.makeIterator()
        while let character = iterator.next() {
            if character == "%" {
                guard let directive = iterator.next() else {
                    throw ExpressionError("stray % in format \(PyRepr.string(format))")
                }
                guard "YymdHIMSfzZjbBhaApe%".contains(directive) else {
                    throw ExpressionError("'\(directive)' is a bad directive in format \(PyRepr.string(format))")
                }
                tokens.append(directive == "%" ? .literal("%") : .directive(directive))
            } else if character.isWhitespace {
                if case .whitespace? = tokens.last { continue }
                tokens.append(.whitespace)
            } else {
                tokens.append(.literal(character))
            }
        }
        let characters = Array(text)
        guard var fields = match(tokens[...], characters, 0, Fields()) else {
            throw AirbyteDatetime.parseError(text, format)
        }
        if let hour12 = fields.hour12 {
            fields.hour = hour12 % 12 + ((fields.pm ?? false) ? 12 : 0)
        }
        var result = PyDateTime(year: fields.year, month: fields.month, day: fields.day, hour: fields.hour,
                                minute: fields.minute, second: fields.second, microsecond: fields.microsecond,
                                offset: fields.offset)
        if let dayOfYear = fields.dayOfYear {
            result = try PyDateTime(year: fields.year, month: 1, day: 1, hour: fields.hour, minute: fields.minute,
                                second: fields.second, microsecond: fields.microsecond, offset: fields.offset)
                .adding(PyDuration(micros: Int64(dayOfYear - 1) * 86_400_000_000))
        }
        guard fields.day <= PyDateTime.daysInMonth(year: fields.year, month: fields.month) else {
            throw ExpressionError("day is out of range for month in \(PyRepr.string(text))")
        }
        return result
    }

    private static func match(_ tokens: ArraySlice<Token>, _ text: [Character], _ position: Int, _ fields: Fields) -> Fields? {
        guard let token = tokens.first else { return position == text.count ? fields : nil }
        let rest = tokens.dropFirst()
        switch token {
        case .literal(let character):
            guard position < text.count, text[position].lowercased() == character.lowercased() else { return nil }
            return match(rest, text, position + 1, fields)
        case .whitespace:
            var end = position
            while end < text.count, text[end].isWhitespace { end += 1 }
            guard end > position else { return nil }
            return match(rest, text, end, fields)
        case .directive(let directive):
            for (length, apply) in candidates(directive, text, position) {
                var next = fields
                apply(&next)
                if let result = match(rest, text, position + length, next) { return result }
            }
            return nil
        }
    }

    private typealias Candidate = (Int, (inout Fields) -> Void)

    /// The ways a directive can match at `position`, longest first as CPython's alternations.
    private static func candidates(_ directive: Character, _ text: [Character], _ position: Int) -> [Candidate] {
        func digits(_ range: ClosedRange<Int>, _ valid: (Int, Int) -> Bool = { _, _ in true }) -> [(Int, Int)] {
            var found: [(Int, Int)] = []
            for length in range.reversed() where position + length <= text.count {
                let slice = text[position..<position + length]
                guard slice.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(String(slice)) else { continue }
                if valid(value, length) { found.append((length, value)) }
            }
            return found
        }
        func twoDigit(max: Int, min: Int = 0) -> [(Int, Int)] {
            digits(1...2) { value, _ in value <= max && value >= min }
        }
        switch directive {
        case "Y": return digits(4...4).map { match in (match.0, { $0.year = match.1 }) }
        case "y": return digits(2...2).map { match in (2, { $0.year = match.1 < 69 ? 2000 + match.1 : 1900 + match.1 }) }
        case "m": return twoDigit(max: 12, min: 1).map { match in (match.0, { $0.month = match.1 }) }
        case "d", "e":
            var found = twoDigit(max: 31, min: 1).map { match -> Candidate in (match.0, { $0.day = match.1 }) }
            if position + 1 < text.count, text[position] == " ", let value = text[position + 1].wholeNumberValue, value > 0 {
                found.append((2, { $0.day = value }))
            }
            return found
        case "H": return twoDigit(max: 23).map { match in (match.0, { $0.hour = match.1 }) }
        case "I": return twoDigit(max: 12, min: 1).map { match in (match.0, { $0.hour12 = match.1 }) }
        case "M": return twoDigit(max: 59).map { match in (match.0, { $0.minute = match.1 }) }
        case "S": return twoDigit(max: 61).map { match in (match.0, { $0.second = match.1 }) }
        case "j": return digits(1...3) { value, _ in value >= 1 && value <= 366 }.map { match in (match.0, { $0.dayOfYear = match.1 }) }
        case "f":
            return digits(1...6).map { match in
                let padded = String(text[position..<position + match.0]) + String(repeating: "0", count: 6 - match.0)
                let micros = Int(padded) ?? 0
                return (match.0, { $0.microsecond = micros })
            }
        case "p":
            return [("am", false), ("pm", true)].compactMap { word, pm in
                prefixMatches(word, text, position) ? (2, { $0.pm = pm }) : nil
            }
        case "b", "h", "B":
            return PyDateTime.monthNames.enumerated().flatMap { index, name -> [Candidate] in
                let forms = directive == "B" ? [name] : [String(name.prefix(3))]
                return forms.compactMap { form in
                    prefixMatches(form.lowercased(), text, position) ? (form.count, { $0.month = index + 1 }) : nil
                }
            }
        case "a", "A":
            return PyDateTime.dayNames.compactMap { name in
                let form = directive == "A" ? name : String(name.prefix(3))
                return prefixMatches(form.lowercased(), text, position) ? (form.count, { _ in }) : nil
            }
        case "Z":
            return ["utc", "gmt"].compactMap { name in
                prefixMatches(name, text, position) ? (3, { $0.offset = 0 }) : nil
            }
        case "z": return offsetCandidates(text, position)
        default: return []
        }
    }

    private static func prefixMatches(_ word: String, _ text: [Character], _ position: Int) -> Bool {
        let characters = Array(word)
        guard position + characters.count <= text.count else { return false }
        return zip(characters, text[position...]).allSatisfy { $0 == Character($1.lowercased()) }
    }

    /// `[+-]HH[:]MM[[:]SS[.ffffff]]` or `Z`.
    private static func offsetCandidates(_ text: [Character], _ position: Int) -> [Candidate] {
        guard position < text.count else { return [] }
        if text[position] == "Z" { return [(1, { $0.offset = 0 })] }
        guard text[position] == "+" || text[position] == "-" else { return [] }
        let sign = text[position] == "-" ? -1 : 1
        var cursor = position + 1
        func twoDigits() -> Int? {
            guard cursor + 2 <= text.count, let value = Int(String(text[cursor..<cursor + 2])),
                  text[cursor].isNumber, text[cursor + 1].isNumber else { return nil }
            cursor += 2
            return value
        }
        guard let hours = twoDigits() else { return [] }
        if cursor < text.count, text[cursor] == ":" { cursor += 1 }
        guard let minutes = twoDigits(), minutes < 60 else { return [] }
        var found: [Candidate] = []
        let base = sign * (hours * 3600 + minutes * 60)
        let shortLength = cursor - position
        if cursor < text.count, text[cursor] == ":" { cursor += 1 }
        if let seconds = twoDigits(), seconds < 60 {
            let total = base + sign * seconds
            found.append((cursor - position, { $0.offset = total }))
        }
        found.append((shortLength, { $0.offset = base }))
        return found
    }
}
