/// The ISO 8601 parsers the CDK leans on: dateutil's `isoparse` and isodate's `parse_duration`.
enum ISO8601 {
    /// `dateutil.parser.isoparse`: date (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYYMMDD`), then
    /// optionally one separator and a time with optional fraction and offset.
    static func parseDateTime(_ text: String) throws -> PyDateTime {
        let characters = Array(text)
        var cursor = 0
        func number(_ count: Int) -> Int? {
            guard cursor + count <= characters.count else { return nil }
            let slice = characters[cursor..<cursor + count]
            guard slice.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            cursor += count
            return Int(String(slice))
        }
        func fail() -> ExpressionError { ExpressionError("\(PyRepr.string(text)) is not an ISO 8601 date or datetime") }
        guard let year = number(4) else { throw fail() }
        var month = 1, day = 1
        if cursor < characters.count, characters[cursor] == "-" {
            cursor += 1
            guard let parsedMonth = number(2) else { throw fail() }
            month = parsedMonth
            if cursor < characters.count, characters[cursor] == "-" {
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
        if cursor < characters.count {
            cursor += 1  // the separator, `T` by the standard; isoparse takes any one character
            guard let parsedHour = number(2) else { throw fail() }
            hour = parsedHour
            if cursor < characters.count, characters[cursor] == ":" { cursor += 1 }
            if let parsedMinute = number(2) {
                minute = parsedMinute
                if cursor < characters.count, characters[cursor] == ":" { cursor += 1 }
                if let parsedSecond = number(2) {
                    second = parsedSecond
                    if cursor < characters.count, characters[cursor] == "." || characters[cursor] == "," {
                        cursor += 1
                        var digits = ""
                        while cursor < characters.count, characters[cursor].isASCII, characters[cursor].isNumber {
                            digits.append(characters[cursor])
                            cursor += 1
                        }
                        guard !digits.isEmpty else { throw fail() }
                        let padded = String((digits + "000000").prefix(6))
                        microsecond = Int(padded) ?? 0
                    }
                }
            }
            if cursor < characters.count {
                let sign = characters[cursor]
                cursor += 1
                if sign == "Z" || sign == "z" {
                    offset = 0
                } else if sign == "+" || sign == "-" {
                    guard let hours = number(2) else { throw fail() }
                    if cursor < characters.count, characters[cursor] == ":" { cursor += 1 }
                    let minutes = number(2) ?? 0
                    offset = (sign == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
                } else {
                    throw fail()
                }
            }
            guard cursor == characters.count, hour < 24 || (hour == 24 && minute == 0 && second == 0),
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
