import Foundation
import InstanceSparsity

/// The classifiers of a server, one per worker, lent out one request at a time. Up to `queue`
/// requests wait for one to come back; `acquire` refuses the rest at once (nil), so a burst costs
/// a bounded number of threads and bodies, never unbounded memory.
final class WorkerPool {
    private var free: [Classifier]
    private let queue: Int
    private var waiting = 0
    private let condition = NSCondition()

    init(_ workers: [Classifier], queue: Int) {
        free = workers; self.queue = queue
    }

    func acquire() -> Classifier? {
        condition.lock()
        defer { condition.unlock() }
        if free.isEmpty {
            guard waiting < queue else { return nil }
            waiting += 1
            while free.isEmpty { condition.wait() }
            waiting -= 1
        }
        return free.removeLast()
    }

    func release(_ worker: Classifier) {
        condition.lock()
        free.append(worker)
        condition.signal()
        condition.unlock()
    }
}
