/// The ISO 8601 parsers the CDK leans on: dateutil's `isoparse` and isodate's `parse_duration`.
enum ISO8601 {
    /// `dateutil.parser.isoparse`: date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYYMMDD`), then
    /// optionally one separator and a time with optional fraction and offset.
    static func parseDateTime(_ text: String) throws -> PyDateTime {
        // Read as UTF-8 bytes: every part the format allows is ASCII, and a record's cursor is
        // parsed once per record, where splitting the text into Characters would cost more
        // than the rest of the parse.
        let bytes = Array(text.utf8)
        var cursor = 0
        func at(_ byte: Unicode.Scalar) -> Bool { cursor < bytes.count && bytes[cursor] == UInt8(ascii: byte) }
        func isDigit(_ index: Int) -> Bool { index < bytes.count && (48...57).contains(bytes[index]) }
        func number(_ count: Int) -> Int? {
            guard cursor + count <= bytes.count else { return nil }
            var value = 0
            for index in cursor..<cursor + count {
                guard isDigit(index) else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
            }
            cursor += count
            return value
        }
        func fail() -> ExpressionError { ExpressionError("\(PyRepr.string(text)) is not an ISO 8601 date or datetime") }
        guard let year = number(4) else { throw fail() }
        var month = 1, day = 1
        if at("-") {
            cursor += 1
            guard let parsedMonth = number(2) else { throw fail() }
            month = parsedMonth
            if at("-") {
                cursor += 1
                guard let parsedDay = number(2) else { throw fail() }
                day = parsedDay
            }
        } else if let parsedMonth = number(2) {
            month = parsedMonth
            guard let parsedDay = number(2) else { throw fail() }
            day = parsedDay
        }
        guard (1...12).contains(month), day >= 1, day <= PyDateTime.daysInMonth(year: year, month: month) else { throw fail() }
        var hour = 0, minute = 0, second = 0, microsecond = 0
        var offset: Int?
        if cursor < bytes.count {
            // The separator, `T` by the standard; isoparse takes any one character (of however
            // many bytes).
            cursor += 1
            while cursor < bytes.count, bytes[cursor] & 0xC0 == 0x80 { cursor += 1 }
            guard let parsedHour = number(2) else { throw fail() }
            hour = parsedHour
            if at(":") { cursor += 1 }
            if let parsedMinute = number(2) {
                minute = parsedMinute
                if at(":") { cursor += 1 }
                if let parsedSecond = number(2) {
                    second = parsedSecond
                    if at(".") || at(",") {
                        cursor += 1
                        // The first six digits are the microseconds (padded with zeros); the rest
                        // are read and dropped.
                        var digits = 0
                        var value = 0
                        while isDigit(cursor) {
                            if digits < 6 { value = value * 10 + Int(bytes[cursor] - 48) }
                            digits += 1
                            cursor += 1
                        }
                        guard digits > 0 else { throw fail() }
                        for _ in min(digits, 6)..<6 { value *= 10 }
                        microsecond = value
                    }
                }
            }
            if cursor < bytes.count {
                let sign = bytes[cursor]
                cursor += 1
                if sign == UInt8(ascii: "Z") || sign == UInt8(ascii: "z") {
                    offset = 0
                } else if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    guard let hours = number(2) else { throw fail() }
                    if at(":") { cursor += 1 }
                    let minutes = number(2) ?? 0
                    offset = (sign == UInt8(ascii: "-") ? -1 : 1) * (hours * 3600 + minutes * 60)
                } else {
                    throw fail()
                }
            }
            guard cursor == bytes.count, hour < 24 || (hour == 24 && minute == 0 && second == 0),
                  minute < 60, second < 60 else { throw fail() }
        }
        var result = PyDateTime(year: year, month: month, day: day, hour: 0, minute: minute, second: second,
                                microsecond: microsecond, offset: offset)
        result.wallMicros += Int64(hour) * 3_600_000_000
        return result
    }

    /// `isodate.parse_duration`: `PnYnMnDTnHnMnS` (fractions allowed) or `PnW`, optionally signed.
    static func parseDuration(_ text: String) throws -> PyDuration {
        var characters = Substring(text)
        var sign: Int64 = 1
        if characters.first == "-" { sign = -1; characters = characters.dropFirst() }
        else if characters.first == "+" { characters = characters.dropFirst() }
        guard characters.first == "P", characters.count > 1 else {
            throw ExpressionError("\(PyRepr.string(text)) is not an ISO 8601 duration")
        }
        characters = characters.dropFirst()
        var months = 0
        var seconds = 0.0
        var inTime = false
        var digits = ""
        for character in characters {
            if character == "T" { inTime = true; continue }
            if character.isNumber || character == "." || character == "," {
                digits.append(character == "," ? "." : character)
                continue
            }
            // A component over 10^12 (years, days or seconds alike) is no real duration, and
            // would overflow once turned into months or microseconds.
            guard let value = Double(digits), value <= 1e12 else { throw ExpressionError("\(PyRepr.string(text)) is not an ISO 8601 duration") }
            digits = ""
            switch (character, inTime) {
            case ("Y", false): months += Int(value.rounded(.towardZero)) * 12
            case ("M", false): months += Int(value.rounded(.towardZero))
            case ("W", false): seconds += value * 7 * 86_400
            case ("D", false): seconds += value * 86_400
            case ("H", true): seconds += value * 3600
            case ("M", true): seconds += value * 60
            case ("S", true): seconds += value
            default: throw ExpressionError("\(PyRepr.string(text)) is not an ISO 8601 duration")
            }
        }
        guard digits.isEmpty else { throw ExpressionError("\(PyRepr.string(text)) is not an ISO 8601 duration") }
        let duration = try PyDuration.checked(months: (months * Int(sign), false), micros: (0, false))
        return PyDuration(months: duration.months, micros: try PyDuration(seconds: Double(sign) * seconds).micros)
    }
}
