/// Python's `datetime.datetime` (and `date`): a wall-clock time to the microsecond, with a
/// fixed UTC offset when aware and none when naive.
public struct PyDateTime: Sendable, Hashable, Comparable {
    /// Microseconds since 1970-01-01 00:00 of the wall clock (not of UTC, unless offset is 0).
    public var wallMicros: Int64
    /// Seconds east of UTC; nil for a naive datetime.
    public var offset: Int?

    public init(wallMicros: Int64, offset: Int?) {
        self.wallMicros = wallMicros
        self.offset = offset
    }

    /// Python's range: 0001-01-01 through 9999-12-31, as wall-clock microseconds.
    static let validWallMicros: ClosedRange<Int64> = -62_135_596_800_000_000...253_402_300_799_999_999

    /// `datetime.fromtimestamp`; Python's `OverflowError` for a time outside years 1–9999.
    public init(epochSeconds: Double, offset: Int? = 0) throws {
        let micros = (epochSeconds * 1_000_000).rounded()
        guard micros.isFinite, Swift.abs(micros) < 9.0e18 else { throw Self.outOfRange }
        try self.init(checkedWallMicros: Int64(micros).addingReportingOverflow(Int64(offset ?? 0) * 1_000_000), offset: offset)
    }

    /// A datetime from arithmetic that may have overflowed or left years 1–9999: from a
    /// third-party value such as a timestamp in the year 300 million, an error, not a trap.
    init(checkedWallMicros result: (partialValue: Int64, overflow: Bool), offset: Int?) throws {
        guard !result.overflow, Self.validWallMicros.contains(result.partialValue) else { throw Self.outOfRange }
        self.init(wallMicros: result.partialValue, offset: offset)
    }

    static let outOfRange = ExpressionError("date value out of range (years 1 to 9999)")

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0,
                microsecond: Int = 0, offset: Int? = nil) {
        let days = Int64(PyDateTime.daysFromCivil(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(wallMicros: seconds * 1_000_000 + Int64(microsecond), offset: offset)
    }

    /// Microseconds since the Unix epoch in UTC; a naive value is taken as UTC (the machine's
    /// zone, which Tributary and its CI run in).
    public var epochMicros: Int64 { wallMicros - Int64(offset ?? 0) * 1_000_000 }

    /// `datetime.timestamp()`.
    public var timestamp: Double { Double(epochMicros) / 1_000_000 }

    public var components: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int) {
        let (days, micros) = wallMicros.floorDivided(by: 86_400_000_000)
        let civil = PyDateTime.civilFromDays(Int(days))
        let seconds = Int(micros / 1_000_000)
        return (civil.year, civil.month, civil.day, seconds / 3600, seconds % 3600 / 60, seconds % 60,
                Int(micros % 1_000_000))
    }

    /// Monday = 0, as `weekday()`.
    public var weekday: Int {
        let days = wallMicros.floorDivided(by: 86_400_000_000).quotient
        return Int((days + 3).floorDivided(by: 7).remainder)
    }

    public var dayOfYear: Int {
        let c = components
        return PyDateTime.daysFromCivil(year: c.year, month: c.month, day: c.day)
            - PyDateTime.daysFromCivil(year: c.year, month: 1, day: 1) + 1
    }

    /// The same instant seen at another offset (`astimezone`).
    public func converted(toOffset newOffset: Int) -> PyDateTime {
        PyDateTime(wallMicros: epochMicros + Int64(newOffset) * 1_000_000, offset: newOffset)
    }

    /// `self + duration`; an error outside years 1–9999, as Python's `OverflowError`.
    public func adding(_ duration: PyDuration) throws -> PyDateTime {
        var result = self
        if duration.months != 0 {
            let c = components
            // Years 1–9999 are under 120,000 months; a duration of more lands outside them.
            guard Swift.abs(duration.months) < 1_000_000 else { throw Self.outOfRange }
            let totalMonths = c.year * 12 + (c.month - 1) + duration.months
            guard (12...(9999 * 12 + 11)).contains(totalMonths) else { throw Self.outOfRange }
            let year = totalMonths.floorDivided(by: 12).quotient
            let month = totalMonths.floorDivided(by: 12).remainder + 1
            let day = min(c.day, PyDateTime.daysInMonth(year: year, month: month))
            result = PyDateTime(year: year, month: month, day: day, hour: c.hour, minute: c.minute,
                                second: c.second, microsecond: c.microsecond, offset: offset)
        }
        return try PyDateTime(checkedWallMicros: result.wallMicros.addingReportingOverflow(duration.micros), offset: offset)
    }

    /// Python refuses to compare naive with aware datetimes; Tributary compares instants,
    /// taking naive values as UTC.
    public static func < (lhs: PyDateTime, rhs: PyDateTime) -> Bool { lhs.epochMicros < rhs.epochMicros }

    public static func == (lhs: PyDateTime, rhs: PyDateTime) -> Bool { lhs.epochMicros == rhs.epochMicros }

    public func hash(into hasher: inout Hasher) { hasher.combine(epochMicros) }

    // Howard Hinnant's civil-calendar algorithms: exact for the proleptic Gregorian calendar.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

/// `timedelta`, or isodate's `Duration` when it has calendar months.
public struct PyDuration: Sendable, Hashable {
    public var months: Int
    public var micros: Int64

    public init(months: Int = 0, micros: Int64) {
        self.months = months
        self.micros = micros
    }

    /// A duration of `seconds`; an error when it is not finite or over ±100,000 years, as
    /// Python's `OverflowError` (no such duration lands on a valid datetime).
    public init(seconds: Double) throws {
        let micros = (seconds * 1_000_000).rounded()
        guard micros.isFinite, Swift.abs(micros) <= Double(Self.maximumMicros) else { throw Self.outOfRange }
        self.init(micros: Int64(micros))
    }

    /// The result of arithmetic that may have overflowed.
    static func checked(months: (partialValue: Int, overflow: Bool), micros: (partialValue: Int64, overflow: Bool)) throws -> PyDuration {
        guard !months.overflow, !micros.overflow, Swift.abs(micros.partialValue) <= maximumMicros,
              Swift.abs(months.partialValue) <= 1_200_000 else { throw outOfRange }
        return PyDuration(months: months.partialValue, micros: micros.partialValue)
    }

    /// ±100,000 years: beyond any distance between two valid datetimes, well inside Int64.
    static let maximumMicros: Int64 = 100_000 * 366 * 86_400_000_000
    static let outOfRange = ExpressionError("timedelta out of range (±100,000 years)")

    public var isZero: Bool { months == 0 && micros == 0 }
    public var totalSeconds: Double { Double(micros) / 1_000_000 }
    /// `-duration`; an error for the one value whose negation does not fit.
    public func negated() throws -> PyDuration {
        try Self.checked(months: 0.subtractingReportingOverflow(months), micros: Int64(0).subtractingReportingOverflow(micros))
    }
}

extension BinaryInteger {
    /// Python's `divmod`: the remainder takes the divisor's sign.
    func floorDivided(by divisor: Self) -> (quotient: Self, remainder: Self) {
        var quotient = self / divisor
        var remainder = self % divisor
        if remainder != 0, (remainder < 0) != (divisor < 0) {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }
}
