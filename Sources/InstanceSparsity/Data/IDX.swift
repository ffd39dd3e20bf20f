/// Reader for the IDX format of (Fashion-)MNIST, raw or gzipped. Only unsigned bytes (type 0x08),
/// which is all those data sets use.
public enum IDX {
    public static func read(path: String) throws -> (dims: [Int], bytes: [UInt8]) {
        let file = try InputFile(path)
        let head = try file.readBytes(at: 0, count: min(file.size, 4))
        if Gzip.isGzip(head) { return try readGzipped(path: path, compressed: try file.readAll()) }

        // The header is checked before any data is read: a wrong file fails at once, whatever its size.
        let dims = try parseHeader(path: path, available: head,
                                   more: { try file.readBytes(at: 0, count: min($0, file.size)) })
        let headerSize = 4 + 4 * dims.count
        let expected = try dataSize(path: path, dims: dims)
        let present = file.size - headerSize
        guard present >= expected else {
            throw InputError(path, "truncated: header says \(expected) bytes of data, file has \(present)")
        }
        guard present == expected else {
            throw InputError(path, "\(present - expected) unexpected bytes after the \(expected) bytes of data the header declares")
        }
        return (dims, try file.readBytes(at: headerSize, count: expected))
    }

    private static func readGzipped(path: String, compressed: [UInt8]) throws -> (dims: [Int], bytes: [UInt8]) {
        func inflate(_ limit: Int) throws -> (bytes: [UInt8], complete: Bool) {
            do { return try Gzip.decompress(compressed, maxOutput: limit) } catch let failure as Gzip.Failure {
                throw InputError(path, failure.description)
            }
        }
        // Inflate just the fixed part first, then the dims, so the size check happens before
        // we inflate (and allocate) the data.
        let dims = try parseHeader(path: path, available: try inflate(4).bytes,
                                   more: { try inflate($0).bytes })
        let headerSize = 4 + 4 * dims.count
        let expected = try dataSize(path: path, dims: dims)
        let (all, complete) = try inflate(headerSize + expected + 1)
        let present = all.count - headerSize
        guard present <= expected else {
            throw InputError(path, "decompressed data is longer than the \(expected) bytes the header declares")
        }
        guard present == expected else {
            throw InputError(path, "truncated: header says \(expected) bytes of data, file has \(present)")
        }
        guard complete else {
            throw InputError(path, "truncated gzip stream (data complete but gzip trailer missing or damaged)")
        }
        return (dims, Array(all[headerSize...]))
    }

    /// `available` must hold at least the 4 magic bytes if present; `more(n)` returns the first
    /// n bytes of the (decompressed) file when the dims are not in `available` yet.
    private static func parseHeader(path: String, available: [UInt8],
                                    more: ((Int) throws -> [UInt8])? = nil) throws -> [Int] {
        guard available.count >= 4 else {
            throw InputError(path, "not an IDX file (only \(available.count) bytes)")
        }
        guard available[0] == 0, available[1] == 0 else {
            let magic = available[0..<4].map { hex($0) }.joined()
            throw InputError(path, "not an IDX file (bad magic 0x\(magic))")
        }
        guard available[2] == 0x08 else {
            throw InputError(path, "unsupported IDX data type 0x\(hex(available[2])) (only unsigned bytes, 0x08, are supported)")
        }
        let rank = Int(available[3])
        guard (1...4).contains(rank) else {
            throw InputError(path, "IDX file declares \(rank) dimensions (expected 1 to 4)")
        }
        let headerSize = 4 + 4 * rank
        let header = available.count >= headerSize ? available : (try more?(headerSize) ?? available)
        guard header.count >= headerSize else {
            throw InputError(path, "truncated: header of \(headerSize) bytes, file has \(header.count)")
        }
        return (0..<rank).map { i in
            let p = 4 + 4 * i  // dims are big-endian UInt32
            return Int(header[p]) << 24 | Int(header[p + 1]) << 16 | Int(header[p + 2]) << 8 | Int(header[p + 3])
        }
    }

    private static func dataSize(path: String, dims: [Int]) throws -> Int {
        var total = 1
        for d in dims {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            // The cap keeps `header + size + 1` (the gzip inflate limit) from overflowing too.
            guard !overflow, product <= 1 << 62 else { throw InputError(path, "IDX dimensions \(dims) are too large") }
            total = product
        }
        return total
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
