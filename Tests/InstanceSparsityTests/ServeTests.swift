import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import InstanceSparsity
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `isp serve` end to end: a server on a free port answers classify, health and metrics, refuses
/// every kind of bad request with a JSON error it counts, sheds load past its queue with 503, and
/// stops cleanly on SIGTERM.
final class ServeTests: TemporaryDirectoryTestCase {

    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try ISP.requireBinary()
    }

    struct Reply { var status: Int; var headers: [String: String]; var body: Data }

    private func request(_ url: String, method: String = "GET", body: Data? = nil) -> Reply? {
        var r = URLRequest(url: URL(string: url)!)
        r.httpMethod = method
        r.httpBody = body
        r.timeoutInterval = 30
        final class Box: @unchecked Sendable { var reply: Reply? }
        let done = DispatchSemaphore(value: 0), box = Box()
        URLSession.shared.dataTask(with: r) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                let headers = Dictionary(http.allHeaderFields.map { ("\($0.key)".lowercased(), "\($0.value)") }) { a, _ in a }
                box.reply = Reply(status: http.statusCode, headers: headers, body: data ?? Data())
            }
            done.signal()
        }.resume()
        done.wait()  // the semaphore orders the write before this read
        return box.reply
    }

    private func json(_ reply: Reply?) -> [String: Any] {
        (reply.flatMap { try? JSONSerialization.jsonObject(with: $0.body) as? [String: Any] }) ?? [:]
    }

    /// A model file of the given width (random weights: serving does not care how good it is)
    /// and a 28x28 gray PNG it can classify.
    private func fixture(width: Float) throws -> (model: String, image: Data) {
        let model = "\(directory)/w\(width).safetensors"
        try Checkpoint.save(try Network.make(ModelSpec(architecture: "vgg16", width: width)), to: model)
        let png = "\(directory)/image.png"
        try PNG.write(path: png, width: 28, height: 28, channels: 1, pixels: (0..<784).map { UInt8($0 % 251) })
        return (model, try Data(contentsOf: URL(fileURLWithPath: png)))
    }

    /// Starts the server and returns it with its base URL, read from its stderr.
    private func start(_ arguments: [String]) throws -> (Process, base: String, stdout: String, stderr: String) {
        let (process, stdout, stderr) = try ISP.start(["serve"] + arguments + ["--port", "0"], in: directory, tag: "serve-\(UUID().uuidString)")
        let deadline = Date().addingTimeInterval(60)
        var base: String? = nil
        while Date() < deadline {
            let text = (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"http://127\.0\.0\.1:\d+"#, options: .regularExpression) { base = String(text[range]); break }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        if base == nil { kill(process.processIdentifier, SIGKILL) }
        return (process, try XCTUnwrap(base, "server did not start: \((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")"),
                stdout, stderr)
    }

    func testClassifyHealthMetricsAndEveryBadRequest() throws {
        let (model, image) = try fixture(width: 0.125)
        let (server, base, stdout, stderr) = try start([model, "--max-body", "5000", "--top", "3", "--max-pixels", "30000000"])
        XCTAssertEqual(request(base + "/healthz")?.status, 200)
        // A second server on the same port says so.
        let port = String(base.split(separator: ":").last!)
        let taken = try ISP.run(["serve", model, "--port", port], in: directory)
        XCTAssertEqual(taken.status, 1)
        XCTAssertTrue(taken.stderr.contains("port \(port) on 127.0.0.1 is already in use"), taken.stderr)

        let ok = request(base + "/v1/classify", method: "POST", body: image)
        XCTAssertEqual(ok?.status, 200)
        let answer = json(ok)
        for key in ["class", "label", "probability", "top", "macs_executed", "macs_dense", "latency_ms"] {
            XCTAssertNotNil(answer[key], "answer lacks \(key): \(answer)")
        }
        XCTAssertEqual((answer["top"] as? [Any])?.count, 3)
        XCTAssertEqual(answer["label"] as? String, FashionMNIST.classNames[answer["class"] as? Int ?? 0])
        // The answer is the library's on the same bytes (the model has no stored point: dense).
        let expected = try Classifier(path: model, pruning: .dense).classify(encoded: [UInt8](image), name: "image.png", top: 3)
        let top = try XCTUnwrap(answer["top"] as? [[String: Any]])
        XCTAssertEqual(top.map { $0["class"] as? Int }, expected.top.map(\.index))
        for (entry, want) in zip(top, expected.top) {
            XCTAssertEqual(try XCTUnwrap(entry["probability"] as? Double), want.probability, accuracy: 1e-6)
        }
        XCTAssertEqual(answer["macs_executed"] as? Int, expected.macsExecuted)
        XCTAssertEqual((json(request(base + "/v1/classify?top=1", method: "POST", body: image))["top"] as? [Any])?.count, 1)

        // A PNG whose header declares 36 megapixels (over --max-pixels) with a few bytes of data.
        var header = [UInt8](image)
        header.replaceSubrange(16..<24, with: [0, 0, 0x17, 0x70, 0, 0, 0x17, 0x70])
        let crc = ImageTests.crc32(Array(header[12..<29]))  // IHDR's type and data
        header.replaceSubrange(29..<33, with: [UInt8(crc >> 24 & 255), UInt8(crc >> 16 & 255), UInt8(crc >> 8 & 255), UInt8(crc & 255)])
        let hugeHeader = Data(header)
        // Every bad request: the status, a JSON error with its reason, and the server stays up.
        let bad: [(String, String, Data?, Int, String)] = [
            ("/v1/classify", "POST", Data(), 400, "empty"),
            ("/v1/classify", "POST", Data("hello".utf8), 400, "bad_image"),
            ("/v1/classify", "POST", image.prefix(image.count / 2), 400, "bad_image"),  // truncated
            ("/v1/classify", "POST", hugeHeader, 400, "bad_image"),  // 6000 x 6000 declared: refused before decoding
            ("/v1/classify", "POST", Data(count: 6000), 413, "too_large"),
            ("/v1/classify?top=0", "POST", image, 400, "bad_parameter"),
            ("/v1/classify?top=11", "POST", image, 400, "bad_parameter"),  // the model has 10 classes
            ("/v1/classify", "GET", nil, 405, "method_not_allowed"),
            ("/metrics", "POST", Data("x".utf8), 405, "method_not_allowed"),
            ("/v2/classify", "GET", nil, 404, "not_found"),
        ]
        for (path, method, body, status, reason) in bad {
            let reply = request(base + path, method: method, body: body)
            XCTAssertEqual(reply?.status, status, "\(method) \(path)")
            XCTAssertEqual(json(reply)["reason"] as? String, reason, "\(method) \(path)")
            XCTAssertNotNil(json(reply)["error"] as? String)
        }
        XCTAssertEqual(request(base + "/v1/classify", method: "GET")?.headers["allow"], "POST")
        XCTAssertEqual(request(base + "/healthz")?.status, 200, "still up")

        let metrics = String(decoding: request(base + "/metrics")?.body ?? Data(), as: UTF8.self)
        for line in ["isp_requests_total 9", "isp_request_errors_total{reason=\"bad_parameter\"} 2", "isp_request_errors_total{reason=\"bad_image\"} 3",
                     "isp_request_errors_total{reason=\"too_large\"} 1", "isp_request_errors_total{reason=\"not_found\"} 1",
                     "isp_request_errors_total{reason=\"method_not_allowed\"} 3", "isp_request_latency_seconds_count 2",
                     "isp_request_latency_seconds_bucket{le=\"+Inf\"} 2"] {
            XCTAssertTrue(metrics.contains(line + "\n"), "metrics lack '\(line)':\n\(metrics)")
        }
        let huge = request(base + "/v1/classify", method: "POST", body: hugeHeader)
        XCTAssertTrue((json(huge)["error"] as? String ?? "").contains("more than the limit of 30000000"), "\(json(huge))")
        let executed = metrics.split(separator: "\n").first { $0.hasPrefix("isp_macs_executed_total ") }
        XCTAssertEqual(executed.map(String.init), "isp_macs_executed_total \(2 * (answer["macs_executed"] as? Int ?? -1))")
        // HEAD wherever GET: the status and headers, no body.
        let head = request(base + "/healthz", method: "HEAD")
        XCTAssertEqual(head?.status, 200)
        XCTAssertEqual(head?.body.count, 0)
        XCTAssertEqual(request(base + "/metrics", method: "POST")?.headers["allow"], "GET, HEAD")
        // A misspelt parameter is refused, not answered with the default.
        let misspelt = request(base + "/v1/classify?tpo=3", method: "POST", body: image)
        XCTAssertEqual(misspelt?.status, 400)
        XCTAssertEqual(json(misspelt)["reason"] as? String, "bad_parameter")
        XCTAssertTrue((json(misspelt)["error"] as? String ?? "").contains("'tpo'"), "\(json(misspelt))")
        // So is a repeated top, one without a value, or a value cut short by a NUL byte; empty
        // pieces of the query ('&' at either end) are not parameters.
        for query in ["top=3&top=4", "top", "top=2%00junk"] {
            let bad = request(base + "/v1/classify?" + query, method: "POST", body: image)
            XCTAssertEqual(bad?.status, 400, query)
            XCTAssertEqual(json(bad)["reason"] as? String, "bad_parameter", query)
        }
        // A multipart form (curl -F) gets a hint.
        var form = Data("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n".utf8)
        form.append(image)
        form.append(Data("\r\n--XyZ--\r\n".utf8))
        let multipart = request(base + "/v1/classify", method: "POST", body: form)
        XCTAssertEqual(multipart?.status, 400)
        XCTAssertTrue((json(multipart)["error"] as? String ?? "").contains("curl --data-binary"), "\(json(multipart))")
        for query in ["top=2&", "&top=2"] {
            let fine = request(base + "/v1/classify?" + query, method: "POST", body: image)
            XCTAssertEqual(fine?.status, 200, query)
            XCTAssertEqual((json(fine)["top"] as? [Any])?.count, 2, query)
        }

        kill(server.processIdentifier, SIGTERM)
        let r = ISP.finish(server, stdout: stdout, stderr: stderr, timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.signaled)
        XCTAssertTrue(r.stderr.contains("isp serve: stopped"), r.stderr)
    }

    /// One worker and no queue: concurrent requests beyond the one being answered get 503 with
    /// Retry-After at once; SIGTERM with requests in flight still answers them and exits 0.
    func testOverloadAndShutdownWithRequestsInFlight() throws {
        let (model, image) = try fixture(width: 1)  // about 8 ms per image: requests overlap
        let (server, base, stdout, stderr) = try start([model, "--workers", "1", "--queue", "0", "--dense"])
        var statuses = [Int](repeating: 0, count: 24), retry = [String?](repeating: nil, count: 24)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 24) { i in
            let reply = request(base + "/v1/classify", method: "POST", body: image)
            lock.lock()
            statuses[i] = reply?.status ?? -1
            retry[i] = reply?.headers["retry-after"]
            lock.unlock()
        }
        XCTAssertTrue(statuses.allSatisfy { $0 == 200 || $0 == 503 }, "\(statuses)")
        XCTAssertTrue(statuses.contains(200), "\(statuses)")
        XCTAssertTrue(statuses.contains(503), "no request was shed: \(statuses)")
        for (status, header) in zip(statuses, retry) where status == 503 { XCTAssertEqual(header, "1") }
        let metrics = String(decoding: request(base + "/metrics")?.body ?? Data(), as: UTF8.self)
        XCTAssertTrue(metrics.contains("isp_request_errors_total{reason=\"overloaded\"} \(statuses.filter { $0 == 503 }.count)\n"), metrics)

        // SIGTERM while requests run: those accepted are answered in full, then exit 0.
        let group = DispatchGroup()
        final class Statuses: @unchecked Sendable { var values = [Int](repeating: 0, count: 4); let lock = NSLock() }
        let inFlight = Statuses()
        for i in 0..<4 {
            DispatchQueue.global().async(group: group) {
                let status = self.request(base + "/v1/classify", method: "POST", body: image)?.status ?? -1
                inFlight.lock.lock(); inFlight.values[i] = status; inFlight.lock.unlock()
            }
        }
        usleep(5000)
        kill(server.processIdentifier, SIGTERM)
        group.wait()
        let r = ISP.finish(server, stdout: stdout, stderr: stderr, timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(inFlight.values.allSatisfy { [200, 503, -1].contains($0) }, "\(inFlight.values)")  // -1: connection refused after quiesce
    }

    /// A socket connected to the server at `base` (http://127.0.0.1:PORT), for requests written by hand.
    private func connected(to base: String) throws -> Int32 {
        let port = try XCTUnwrap(UInt16(base.split(separator: ":").last!))
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(socket, 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(status, 0)
        return socket
    }

    /// Two Content-Length headers: refused with a JSON error (a proxy in front may have read the
    /// body by the other), counted, and the server stays up.
    func testTwoContentLengthsAreRefused() throws {
        let (model, _) = try fixture(width: 0.0625)
        let (server, base, stdout, stderr) = try start([model, "--dense"])
        defer { kill(server.processIdentifier, SIGTERM); _ = ISP.finish(server, stdout: stdout, stderr: stderr, timeout: 30) }
        let socket = try connected(to: base)
        defer { close(socket) }
        let head = "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 6\r\nConnection: close\r\n\r\nabcdef"
        XCTAssertEqual(head.withCString { send(socket, $0, strlen($0), 0) }, head.utf8.count)
        var reply = [UInt8](), chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(socket, &chunk, chunk.count, 0)
            if n <= 0 { break }
            reply += chunk[..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 400"), text)
        XCTAssertTrue(text.contains("\"reason\":\"bad_header\""), text)
        XCTAssertTrue(text.contains("Content-Length given more than once"), text)
        let metrics = String(decoding: request(base + "/metrics")?.body ?? Data(), as: UTF8.self)
        XCTAssertTrue(metrics.contains("isp_request_errors_total{reason=\"bad_header\"} 1\n"), metrics)
        XCTAssertEqual(request(base + "/healthz")?.status, 200, "still up")
    }

    /// An upload that stalls mid-body holds the drain (up to libmicrohttpd's 30 s without data);
    /// a second signal ends the server at once.
    func testSecondSignalStopsAStalledDrainAtOnce() throws {
        let (model, _) = try fixture(width: 0.0625)
        let (server, base, stdout, stderr) = try start([model, "--dense"])
        let socket = try connected(to: base)
        defer { close(socket) }
        let head = "POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"
        XCTAssertEqual(head.withCString { send(socket, $0, strlen($0), 0) }, head.utf8.count)
        usleep(300_000)  // the server has the headers and part of the body
        kill(server.processIdentifier, SIGTERM)
        usleep(500_000)
        XCTAssertTrue(server.isRunning, "the first signal drains: the stalled upload is still in flight")
        let start = Date()
        kill(server.processIdentifier, SIGTERM)
        let r = ISP.finish(server, stdout: stdout, stderr: stderr, timeout: 30)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "a second signal stops at once")
        XCTAssertEqual(r.status, 128 + SIGTERM, r.stderr)
        XCTAssertTrue(r.stderr.contains("second signal, stopping at once"), r.stderr)
    }
}
