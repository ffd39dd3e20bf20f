import CZlib

/// gzip through zlib, on in-memory buffers. Decompression takes an output cap because sizes in
/// the files we read come from headers we do not trust.
public enum Gzip {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    public static func compress(_ bytes: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var stream = z_stream()
        // 16 + MAX_WBITS asks zlib for a gzip wrapper instead of a raw zlib one.
        let status = deflateInit2_(&stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")
        defer { deflateEnd(&stream) }
        // deflateBound is exact enough that a single Z_FINISH call always completes; the 18 bytes
        // cover the gzip header and trailer it does not count.
        let bound = Int(deflateBound(&stream, uLong(bytes.count))) + 18
        var output = [UInt8](repeating: 0, count: bound)
        var written = 0
        bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                let result = deflate(&stream, Z_FINISH)
                precondition(result == Z_STREAM_END, "deflate did not finish: \(result)")
                written = out.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }

    /// Inflates at most `maxOutput` bytes. `complete` is true when every gzip member ended
    /// properly (trailer and CRC checked) and all input was consumed; it is false when the
    /// input ran out early or the cap stopped us.
    public static func decompress(_ bytes: [UInt8], maxOutput: Int) throws -> (bytes: [UInt8], complete: Bool) {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }

        var output: [UInt8] = []
        // Grow in chunks rather than trusting any declared size: a lying header cannot make us
        // allocate more than about twice what the stream really holds.
        let chunk = 1 << 20
        var complete = false
        try bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while output.count < maxOutput {
                let want = min(chunk, maxOutput - output.count)
                let before = output.count
                var produced = 0
                var status: Int32 = Z_OK
                output.append(contentsOf: repeatElement(0, count: want))
                output.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress! + before
                    stream.avail_out = uInt(want)
                    status = inflate(&stream, Z_NO_FLUSH)
                    produced = want - Int(stream.avail_out)
                }
                output.removeSubrange((before + produced)...)
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { complete = true; return }
                    // Concatenated gzip members are legal (what `cat a.gz b.gz` makes).
                    guard inflateReset(&stream) == Z_OK else { throw Failure(description: "cannot reset zlib") }
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: input exhausted mid-stream.
                    if stream.avail_in == 0 { return }
                    throw Failure(description: "corrupt gzip data (no progress)")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw Failure(description: "corrupt gzip data: \(message)")
                }
            }
        }
        return (output, complete)
    }
}
