import Dispatch
import Foundation
import InstanceSparsity
import InstanceSparsityServing

enum ServeCommand: Command {
    static let name = "serve"
    static let synopsis = "MODEL"
    static let abstract = """
    An HTTP/1.1 classification server (libmicrohttpd). POST /v1/classify with a PNG or JPEG body
    (prepared as the model's data was, see 'isp predict') answers JSON: class, label, probability,
    top, macs_executed, macs_dense, latency_ms; ?top=K sets how many classes. GET /healthz answers
    200 once the model is loaded; GET /metrics gives Prometheus counters (requests, errors by
    reason, a latency histogram, MACs executed and dense). Each worker has its own executor and
    prunes per image; requests beyond the workers wait in a queue of --queue, and past it get 503
    with Retry-After. Bad requests get a JSON error (400 not an image, 404, 405, 413 over
    --max-body) and the server stays up. SIGTERM or SIGINT: stop accepting, answer what is in
    flight (an upload that stalls is dropped after 30 s without data), give idle keep-alive
    connections up to 10 s to close, exit 0; a second signal exits at once (130 or 143). Unknown or
    repeated query parameters, and ones without a name or a value (?=5, ?top=), get 400, as does
    a ?top=K over the model's classes or a request with two Content-Length headers; a trailing
    or doubled '&' is ignored.
    """
    static let options = [
        Option("--host", "ADDRESS", "IPv4 address to listen on (default 127.0.0.1)"),
        Option("--port", "PORT", "TCP port; 0 picks a free one, printed on stderr (default 8080)"),
    ] + PruningRequest.options + [
        LayerSelection.uncalibratedLayersOption,
        Option("--dense", "run every channel even if MODEL has a stored operating point (default: the stored point if any)"),
        Option("--workers", "N", "executors answering in parallel, each on one core when more than one (default: one per core)"),
        Option("--queue", "N", "requests that may wait for a worker before 503 (default 16)"),
        Option("--max-body", "BYTES", "largest request body; larger gets 413 (default 10485760, 10 MB)"),
        Option("--max-pixels", "N", "images whose header declares more pixels get 400 before decoding (default 25000000)"),
        Option("--top", "K", "classes per answer unless the request gives ?top=K, at most the model's (default 5, or all if it has fewer)"),
    ]

    static func run(_ a: inout Arguments, engine: Engine) throws {
        var configuration = ClassificationServer.Configuration()
        configuration.host = try a.option("--host") ?? configuration.host
        var address = in_addr()
        guard inet_pton(AF_INET, configuration.host, &address) == 1 else {
            throw UsageError(message: "--host must be an IPv4 address such as 127.0.0.1 or 0.0.0.0, got '\(configuration.host)'")
        }
        configuration.port = UInt16(try a.number("--port", default: 8080, in: 0...65535) as Int)
        configuration.workers = try a.number("--workers", default: engine.threads, in: 1...256)
        configuration.queue = try a.number("--queue", default: 16, in: 0...100_000)
        configuration.maxBody = try a.number("--max-body", default: 10 << 20, in: 1...(1 << 30))
        let givenTop: Int? = try a.optionalNumber("--top", in: 1...100_000)
        configuration.maxPixels = try a.number("--max-pixels", default: 25_000_000, in: 1...ImageDecoder.maxPixels)
        let dense = try a.flag("--dense")
        let request = try PruningRequest.read(&a)
        let layers = try a.list("--layers")?.joined(separator: ",")
        guard let path = a.positional() else { throw UsageError(message: "MODEL (a .safetensors checkpoint) is required") }
        try a.finish()
        if dense && request != nil { throw UsageError(message: "--dense and --prune contradict each other") }
        if layers != nil && request == nil { throw UsageError(message: "--layers needs --prune POLICY") }

        let classifier = try PredictCommand.makeClassifier(path: path, request: request, layers: layers, defaultStored: !dense,
                                                           splitAcrossCores: true, engine: engine)
        configuration.top = try PredictCommand.classesPerAnswer(givenTop, of: classifier, path: path)
        let stop = DispatchSemaphore(value: 0)
        catchStopSignals(StopRequest()) { _ in stop.signal() }
        let server = try ClassificationServer(classifier: classifier, configuration: configuration)
        note("isp serve: listening on http://\(configuration.host):\(server.port) (\(configuration.workers) worker\(configuration.workers == 1 ? "" : "s"), queue \(configuration.queue)); POST /v1/classify, GET /healthz, GET /metrics")
        stop.wait()
        note("isp serve: stopping: no new connections, finishing the requests in flight (again to stop at once)")
        server.shutDown()
        note("isp serve: stopped")
    }
}
