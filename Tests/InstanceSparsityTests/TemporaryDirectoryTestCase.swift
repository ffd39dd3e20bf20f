import Foundation
import InstanceSparsity
import XCTest

/// A test case with a fresh temporary directory for each test (`directory`), removed afterwards,
/// and the check that an operation fails with a one-line error naming a file.
class TemporaryDirectoryTestCase: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        directory = NSTemporaryDirectory() + "\(type(of: self))-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
        try super.tearDownWithError()
    }

    /// Asserts that `body` throws an InputError naming `path` whose problem contains `problem`.
    func assertInputError(_ path: String, _ problem: String, file: StaticString = #filePath, line: UInt = #line,
                          _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error containing '\(problem)'", file: file, line: line)
        } catch let error as InputError {
            XCTAssertEqual(error.path, path, file: file, line: line)
            XCTAssertTrue(error.problem.contains(problem), "'\(error.problem)' lacks '\(problem)'", file: file, line: line)
            XCTAssertEqual(error.description, "\(error.path): \(error.problem)", file: file, line: line)
            XCTAssertFalse(error.description.contains("\n"), file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
}

/// Tests of the real `isp` binary on the synthetic Fashion-MNIST, written to `data` in the
/// temporary directory.
class SyntheticDataTestCase: TemporaryDirectoryTestCase {
    var data = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try ISP.requireBinary()
        data = directory + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try SyntheticFashionMNIST.write(to: data)
    }
}
