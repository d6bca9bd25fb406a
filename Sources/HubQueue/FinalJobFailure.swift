/// An error that retrying can't fix: the third party refused the credentials, or the source
/// said its config is wrong. A job that throws one is discarded at once, its error kept, rather
/// than retried with backoff: the next scheduled run, or a retry by hand after the fix, runs
/// it again.
public protocol FinalJobFailure: Error {}
