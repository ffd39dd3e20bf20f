import CHTTPServer
import Foundation
import InstanceSparsity

/// `POST /v1/classify` (a PNG or JPEG body) answered by a pool of classifiers, one per worker,
/// each pruning per image; `GET /healthz`; `GET /metrics` in Prometheus' text format. Requests
/// beyond the workers wait in a bounded queue; past it they get 503 with Retry-After, so memory
/// never grows with the load. Every error is a JSON body with a reason, and is counted.
public final class ClassificationServer {
    public struct Configuration {
        public var host = "127.0.0.1"
        public var port: UInt16 = 8080
        public var workers = 1
        /// Requests that may wait for a worker; more get 503.
        public var queue = 16
        public var maxBody = 10 << 20
        /// Larger images (by their header) are refused before decoding.
        public var maxPixels = 25_000_000
        /// Classes listed per answer unless the request says `?top=K`.
        public var top = 5

        public init() {}
    }

    public let configuration: Configuration
    /// The model's classes: the most a request's `?top=K` may ask for.
    private let classes: Int
    /// The port listened on (the free one picked when the configuration said 0).
    public private(set) var port: UInt16 = 0
    private let pool: WorkerPool
    private let metrics = Metrics()
    private var server: OpaquePointer?
    /// The reference the C server's handler holds: released once it is stopped, so no request can
    /// reach a server object that is gone.
    private var handlerReference: Unmanaged<ClassificationServer>?

    /// Starts listening at once; `classifier` is copied for each worker (same weights and plan).
    public init(classifier: Classifier, configuration: Configuration) throws {
        self.configuration = configuration
        classes = classifier.network.spec.classes
        let oneEach = configuration.workers > 1
        pool = WorkerPool((0..<configuration.workers).map { _ in
                              classifier.copy(splitAcrossCores: !oneEach, maxPixels: configuration.maxPixels) },
                          queue: configuration.queue)
        var error = [CChar](repeating: 0, count: 256)
        let reference = Unmanaged.passRetained(self)
        server = isp_http_start(configuration.host, configuration.port, configuration.maxBody,
                                UInt32(configuration.workers + configuration.queue + 64), handle, reference.toOpaque(),
                                &error, error.count)
        guard let server else {
            reference.release()
            throw InputError("\(configuration.host):\(configuration.port)", String(cString: error))
        }
        handlerReference = reference
        port = isp_http_port(server)
    }

    /// Stops accepting connections and answers what is in flight, each answer saying
    /// "Connection: close"; waits up to `grace` seconds for keep-alive clients to leave, then stops.
    /// Until this is called the server keeps itself alive.
    public func shutDown(grace: Double = 10) {
        guard let server else { return }
        isp_http_quiesce(server)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(grace * 1e9)
        while isp_http_in_flight(server) > 0 || (isp_http_connections(server) > 0 && DispatchTime.now().uptimeNanoseconds < deadline) {
            usleep(2000)
        }
        isp_http_stop(server)
        self.server = nil
        handlerReference?.release()
        handlerReference = nil
    }

    struct Answer {
        var status: Int32
        var body: [UInt8]
        var contentType: StaticString = "application/json"
        var retryAfter: StaticString? = nil
        var allow: StaticString? = nil
    }

    func route(method: String, path: String, top: String?, badQuery: String?, badHeader: String?, body: [UInt8]?,
               tooLarge: Bool) -> Answer {
        func fail(_ status: Int32, _ reason: String, _ message: String) -> Answer {
            metrics.count(error: reason)
            return Answer(status: status, body: Self.json(["error": message, "reason": reason]))
        }
        if let badHeader { return fail(400, "bad_header", "\(method) \(path): \(badHeader)") }
        // HEAD wherever GET (HTTP requires it; libmicrohttpd sends a HEAD answer's headers only).
        func refuseUnlessGet() -> Answer? {
            guard method != "GET" && method != "HEAD" else { return nil }
            var a = fail(405, "method_not_allowed", "\(method) \(path): use GET"); a.allow = "GET, HEAD"; return a
        }
        switch path {
        case "/v1/classify":
            guard method == "POST" else {
                var a = fail(405, "method_not_allowed", "\(method) \(path): use POST with a PNG or JPEG body"); a.allow = "POST"; return a
            }
            metrics.countRequest()
            let start = DispatchTime.now().uptimeNanoseconds
            if tooLarge { return fail(413, "too_large", "request body is over \(configuration.maxBody) bytes") }
            // A misspelt (?tpo=3), repeated or empty parameter would otherwise answer with a default silently.
            if let badQuery { return fail(400, "bad_parameter", badQuery) }
            guard let body, !body.isEmpty else { return fail(400, "empty", "request body is empty: send a PNG or JPEG image") }
            var k = configuration.top
            if let top {
                guard let n = Int(top), (1...classes).contains(n) else {
                    return fail(400, "bad_parameter", "top must be a number from 1 to \(classes) (the model's classes), got '\(top)'")
                }
                k = n
            }
            guard let worker = pool.acquire() else {
                var a = fail(503, "overloaded", "all \(configuration.workers) workers busy and \(configuration.queue) requests waiting; retry")
                a.retryAfter = "1"
                return a
            }
            defer { pool.release(worker) }
            do {
                let r = try worker.classify(encoded: body, name: "request body", top: k)
                guard r.logits.allSatisfy(\.isFinite) else { return fail(500, "not_finite", "the model's output is not finite for this image") }
                metrics.add(macsExecuted: r.macsExecuted, macsDense: r.macsDense)
                // Latency of answered classifications only: fast refusals would make an overload look quick.
                metrics.observe(seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                var object = r.jsonObject
                object["logits"] = nil
                return Answer(status: 200, body: Self.json(object))
            } catch {
                // `curl -F file=@x.png` sends a multipart form, the image inside it.
                let form = body.starts(with: Array("--".utf8))
                    && String(decoding: body.prefix(512), as: UTF8.self).lowercased().contains("content-disposition: form-data")
                return fail(400, "bad_image", "\(error)" + (form ? "; this is a multipart form: send the image's bytes as the body (curl --data-binary @FILE)" : ""))
            }
        case "/healthz":
            if let refusal = refuseUnlessGet() { return refusal }
            return Answer(status: 200, body: Self.json(["status": "ok"]))
        case "/metrics":
            if let refusal = refuseUnlessGet() { return refusal }
            return Answer(status: 200, body: Array(metrics.text().utf8), contentType: "text/plain; version=0.0.4")
        default:
            return fail(404, "not_found", "\(method) \(path): no such endpoint (POST /v1/classify, GET /healthz, GET /metrics)")
        }
    }

    static func json(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)) + [10]
    }
}

/// The C server's callback: the whole request in, one answer out (body malloc'ed for the server to free).
private func handle(_ context: UnsafeMutableRawPointer?, _ method: UnsafePointer<CChar>?, _ url: UnsafePointer<CChar>?,
                    _ top: UnsafePointer<CChar>?, _ badQuery: UnsafePointer<CChar>?, _ badHeader: UnsafePointer<CChar>?,
                    _ body: UnsafePointer<UInt8>?, _ length: Int, _ tooLarge: Int32,
                    _ response: UnsafeMutablePointer<isp_http_response>?) {
    guard let context, let response else { return }
    let server = Unmanaged<ClassificationServer>.fromOpaque(context).takeUnretainedValue()
    let bytes = body.map { Array(UnsafeBufferPointer(start: $0, count: length)) }
    let answer = server.route(method: method.map { String(cString: $0) } ?? "", path: url.map { String(cString: $0) } ?? "",
                              top: top.map { String(cString: $0) }, badQuery: badQuery.map { String(cString: $0) },
                              badHeader: badHeader.map { String(cString: $0) }, body: bytes, tooLarge: tooLarge != 0)
    let copy = malloc(max(answer.body.count, 1))!.assumingMemoryBound(to: UInt8.self)
    answer.body.withUnsafeBufferPointer { copy.update(from: $0.baseAddress!, count: $0.count) }
    response.pointee.status = answer.status
    response.pointee.body = copy
    response.pointee.length = answer.body.count
    // String literals are stored NUL-terminated and live as long as the program: safe to hand over.
    func cString(_ s: StaticString) -> UnsafePointer<CChar> { UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self) }
    response.pointee.content_type = cString(answer.contentType)
    response.pointee.retry_after = answer.retryAfter.map(cString)
    response.pointee.allow = answer.allow.map(cString)
}
