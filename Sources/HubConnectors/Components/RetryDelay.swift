/// The one gate every wait from outside passes before it is used: a `Retry-After` or
/// rate-limit header, a manifest's backoff factor or constant. A third party or a manifest can
/// send `1e300`, `inf`, `nan` or a negative number; converting those to a `Duration` or an
/// integer traps, so every such number is made finite and bounded here, before any conversion.
public enum RetryDelay {
    /// The longest wait one retry may ask for. An API that wants more is asked again after an
    /// hour; a stream never sleeps (or a job never snoozes) for longer on a header's word.
    public static let maxSeconds: Double = 3_600

    /// `seconds` made finite and put in `0...maxSeconds`; not-a-number counts as the maximum,
    /// since an API that sent garbage is better asked again late than hammered.
    public static func bounded(_ seconds: Double) -> Double {
        guard !seconds.isNaN else { return maxSeconds }
        return min(max(seconds, 0), maxSeconds)
    }

    /// A header's delay in seconds, or nil when it isn't a number. Accepts what
    /// `Double(_:)` accepts (so `1e300` and `inf` parse) and bounds it.
    public static func parse(_ text: String) -> Double? {
        guard let value = Double(text) else { return nil }
        return bounded(value)
    }

    /// Whole milliseconds of a bounded delay: never traps, whatever `seconds` was.
    public static func milliseconds(_ seconds: Double) -> Int64 {
        Int64((bounded(seconds) * 1000).rounded(.up))
    }
}
