import XCTest

/// Logits of two paths that should compute the same network (the sparse executor against the
/// masked dense network, a slimmed network against the original): the same count, and each value
/// equal up to float sums taken in another order.
func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): logit count", file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-4 * max(1, abs(y)), what, file: file, line: line) }
}
