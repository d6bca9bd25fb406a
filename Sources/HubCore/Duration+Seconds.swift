extension Duration {
    /// The duration as fractional seconds: what SQL intervals and rates take.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
