import HubCore
import Metrics

/// The queue's metrics, through swift-metrics (the api role exports them at `/metrics`). Labels
/// are queue and job kind only: never tenant or job ids, which would explode cardinality.
/// Queue depth by state is read from the table when scraped (`JobQueue.depth`).
enum QueueMetrics {
    enum Outcome: String {
        case completed, failed, cancelled, snoozed
    }

    static func claimed(_ count: Int, queue: String, duration: Duration) {
        Counter(label: "hub_jobs_claimed_total", dimensions: [("queue", queue)]).increment(by: count)
        Timer(label: "hub_job_claim_duration_seconds", dimensions: [("queue", queue)]).recordNanoseconds(nanoseconds(duration))
    }

    static func finished(_ job: ClaimedJob, _ outcome: Outcome, runTime: Duration) {
        let dimensions = [("queue", job.queue), ("kind", job.kind)]
        Counter(label: "hub_jobs_finished_total", dimensions: dimensions + [("outcome", outcome.rawValue)]).increment()
        Timer(label: "hub_job_run_duration_seconds", dimensions: dimensions).recordNanoseconds(nanoseconds(runTime))
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        Int64(duration.inSeconds * 1e9)
    }
}
