import Foundation

/// The server's counters in Prometheus' text exposition format: requests, errors by reason, a
/// latency histogram, and the MACs executed against what the dense network would have run.
final class Metrics {
    /// Upper bounds of the latency buckets, in seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    private let lock = NSLock()
    private var requests = 0
    private var errors: [String: Int] = [:]
    private var bucketCounts = [Int](repeating: 0, count: Metrics.buckets.count)
    private var observations = 0
    private var latencySum = 0.0
    private var macsExecuted = 0, macsDense = 0

    func countRequest() { lock.lock(); requests += 1; lock.unlock() }

    func count(error reason: String) { lock.lock(); errors[reason, default: 0] += 1; lock.unlock() }

    func observe(seconds: Double) {
        lock.lock()
        for (i, bound) in Metrics.buckets.enumerated() where seconds <= bound { bucketCounts[i] += 1 }
        observations += 1
        latencySum += seconds
        lock.unlock()
    }

    func add(macsExecuted executed: Int, macsDense dense: Int) {
        lock.lock(); macsExecuted += executed; macsDense += dense; lock.unlock()
    }

    func text() -> String {
        lock.lock()
        defer { lock.unlock() }
        var lines = [
            "# HELP isp_requests_total Classification requests received (POST /v1/classify).", "# TYPE isp_requests_total counter",
            "isp_requests_total \(requests)",
            "# HELP isp_request_errors_total Requests to any path answered with an error, by reason.", "# TYPE isp_request_errors_total counter",
        ]
        for reason in errors.keys.sorted() { lines.append("isp_request_errors_total{reason=\"\(reason)\"} \(errors[reason]!)") }
        lines += ["# HELP isp_request_latency_seconds Time to answer a classification request that succeeded (refusals are counted in isp_request_errors_total).",
                  "# TYPE isp_request_latency_seconds histogram"]
        for (i, bound) in Metrics.buckets.enumerated() { lines.append("isp_request_latency_seconds_bucket{le=\"\(bound)\"} \(bucketCounts[i])") }
        lines += ["isp_request_latency_seconds_bucket{le=\"+Inf\"} \(observations)",
                  "isp_request_latency_seconds_sum \(latencySum)", "isp_request_latency_seconds_count \(observations)",
                  "# HELP isp_macs_executed_total Multiply-accumulates run for classified images (pruned per image).",
                  "# TYPE isp_macs_executed_total counter", "isp_macs_executed_total \(macsExecuted)",
                  "# HELP isp_macs_dense_total Multiply-accumulates the dense network would have run for them.",
                  "# TYPE isp_macs_dense_total counter", "isp_macs_dense_total \(macsDense)"]
        return lines.joined(separator: "\n") + "\n"
    }
}
