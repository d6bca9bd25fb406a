import Foundation
import Logging
import PostgresNIO
import Synchronization

extension WorkerPool {
    /// Wake-ups and cancellations by NOTIFY, on one connection held for the worker's life;
    /// reconnects after a failure. Polling covers anything missed meanwhile.
    func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: JobQueue.wakeChannel) { wakes in
                        try await connection.listen(on: JobQueue.cancelChannel) { cancels in
                            // Whatever was sent before this LISTEN (at start, or while the
                            // connection was lost) went unheard: look for runnable jobs, and for
                            // cancel requests through the leases, now rather than at the next poll.
                            for doorbell in self.doorbells.values { doorbell.ring() }
                            await self.renewLeases()
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask {
                                    for try await notification in wakes { self.doorbells[notification.payload]?.ring() }
                                }
                                group.addTask {
                                    for try await notification in cancels {
                                        if let id = Int64(notification.payload) { self.cancelRunning(id, reason: .requested) }
                                    }
                                }
                                try await group.waitForAll()
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("lost the NOTIFY connection; polling until it is back", metadata: ["hub.error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Renews this worker's leases every heartbeat, and learns of cancellations and takeovers.
    /// Nothing else runs in this loop: whatever else waits (a rescue behind a stuck lock, say)
    /// must never let this worker's own leases lapse.
    func renewLeasesPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeat)
            if Task.isCancelled { return }
            await renewLeases()
        }
    }

    /// Rescues jobs whose workers stopped renewing their leases, every `rescueInterval`.
    func rescuePeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.rescueInterval)
            if Task.isCancelled { return }
            do {
                let rescued = try await queue.rescueExpired()
                if !rescued.isEmpty { logger.warning("rescued jobs whose lease expired", metadata: ["hub.jobs": "\(rescued)"]) }
            } catch {
                logger.error("rescuing expired jobs failed", metadata: ["hub.error": "\(error)"])
            }
        }
    }

    func renewLeases() async {
        let jobs = running.withLock { $0.values.map(\.job) }
        guard !jobs.isEmpty else { return }
        do {
            let held = try await queue.heartbeat(jobs, lease: configuration.lease)
            for job in jobs {
                switch held[job.id] {
                case nil: cancelRunning(job.id, reason: .leaseLost)
                case true?: cancelRunning(job.id, reason: .requested)
                case false?: break
                }
            }
        } catch {
            logger.error("renewing leases failed", metadata: ["hub.error": "\(error)"])
        }
    }

    func cancelRunning(_ id: Int64, reason: JobContext.CancelReason) {
        guard let context = running.withLock({ $0[id] }) else {
            // Most such requests are for other workers' jobs; the last few are kept in case
            // the job is one this worker has claimed but not registered yet.
            if reason == .requested {
                unmatchedCancels.withLock { ids in
                    ids.append(id)
                    if ids.count > 64 { ids.removeFirst(ids.count - 64) }
                }
            }
            return
        }
        context.cancel(reason)
    }
}
