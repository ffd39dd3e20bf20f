import Foundation

#if !_endian(little)
#error("SafeTensors reads and writes tensor data in host byte order, which must be little-endian")
#endif

/// The safetensors format: u64 little-endian header length N, N bytes of JSON describing each
/// tensor (dtype, shape, byte range in the data buffer), then the data buffer.
///
/// Files may come from elsewhere (PyTorch exports), so reading checks every declared size and
/// offset against the real file before allocating anything.
public enum SafeTensors {
    public struct Contents {
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        /// Tensor names in the order of their data in the file.
        public var order: [String]
        /// Batch norm's step counters (`num_batches_tracked`, int64 scalars) by name.
        public var counters: [String: Int64]
    }

    static let maximumHeaderLength: UInt64 = 100_000_000

    private struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    public static func read(path: String) throws -> Contents {
        let file = try InputFile(path)
        guard file.size >= 8 else {
            throw InputError(path, "too short for a safetensors file (\(file.size) bytes, need at least 8)")
        }
        let prefix = try file.readBytes(at: 0, count: 8)
        // torch.save writes a zip archive ("PK\u{3}\u{4}"), older versions a pickle (0x80, protocol).
        if prefix.starts(with: [0x50, 0x4b, 0x03, 0x04]) || (prefix[0] == 0x80 && (2...5).contains(prefix[1])) {
            throw InputError(path, "is a PyTorch file (torch.save), not safetensors: convert it with benchmarks/convert.py "
                                   + "(from-torchvision for torchvision's models, export-torch for the others)")
        }
        // Images given where a model goes (`isp eval photo.png`) are the usual mistake: say so.
        for (magic, kind) in [([0x89, 0x50, 0x4e, 0x47] as [UInt8], "a PNG image"), ([0xff, 0xd8, 0xff], "a JPEG image"), ([0x1f, 0x8b], "a gzip file")]
            where prefix.starts(with: magic) {
            throw InputError(path, "is \(kind), not a safetensors model")
        }
        let headerLength = prefix.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= UInt64(file.size - 8) else {
            throw InputError(path, "header length \(headerLength) is larger than the \(file.size - 8) bytes after the length field (not a safetensors file?)")
        }
        guard headerLength <= maximumHeaderLength else {
            throw InputError(path, "header length \(headerLength) exceeds the \(maximumHeaderLength)-byte limit")
        }
        let header = try file.readBytes(at: 8, count: Int(headerLength))
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.size - dataStart

        guard String(validating: header, as: UTF8.self) != nil else {
            throw InputError(path, "header is not valid UTF-8")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(header)) else {
            throw InputError(path, "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw InputError(path, "header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        if let raw = object["__metadata__"] {
            guard let dictionary = raw as? [String: Any] else {
                throw InputError(path, "__metadata__ is not a JSON object")
            }
            for key in dictionary.keys.sorted() {
                guard let value = dictionary[key] as? String else {
                    throw InputError(path, "metadata '\(key)' is not a string")
                }
                metadata[key] = value
            }
        }

        // Sorted so that a file with several problems always reports the same one.
        var entries: [Entry] = []
        for name in object.keys.sorted() where name != "__metadata__" {
            entries.append(try parseEntry(path: path, name: name, value: object[name]!, dataSize: dataSize))
        }

        let byOffset = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for (previous, next) in zip(byOffset, byOffset.dropFirst()) where next.begin < previous.end {
            throw InputError(path, "tensors '\(previous.name)' and '\(next.name)' overlap (data_offsets [\(previous.begin), \(previous.end)] and [\(next.begin), \(next.end)])")
        }

        var tensors: [String: Tensor] = [:]
        var order: [String] = []
        for entry in byOffset where entry.dtype == "F32" {
            let tensor = Tensor(shape: entry.shape)
            try file.read(at: dataStart + entry.begin, into: tensor.data, count: entry.end - entry.begin)
            tensors[entry.name] = tensor
            order.append(entry.name)
        }
        var counters: [String: Int64] = [:]
        for entry in byOffset where entry.dtype == "I64" && entry.end - entry.begin == 8 {
            let bytes = try file.readBytes(at: dataStart + entry.begin, count: 8)
            counters[entry.name] = bytes.reversed().reduce(0) { $0 << 8 | Int64($1) }  // little-endian
        }
        return Contents(tensors: tensors, metadata: metadata, order: order, counters: counters)
    }

    private static func parseEntry(path: String, name: String, value: Any, dataSize: Int) throws -> Entry {
        guard let fields = value as? [String: Any] else {
            throw InputError(path, "entry '\(name)' is not a JSON object")
        }
        guard let dtype = fields["dtype"] as? String else {
            throw InputError(path, "tensor '\(name)' has no string 'dtype'")
        }
        guard let rawShape = fields["shape"] as? [Any], let shape = integers(rawShape),
              shape.allSatisfy({ $0 >= 0 }) else {
            throw InputError(path, "tensor '\(name)' has no 'shape' array of non-negative integers")
        }
        guard let rawOffsets = fields["data_offsets"] as? [Any], let offsets = integers(rawOffsets),
              offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw InputError(path, "tensor '\(name)' has no 'data_offsets' pair [begin, end] with 0 <= begin <= end")
        }
        let elementSize: Int
        switch dtype {
        case "F32": elementSize = 4
        // PyTorch stores BatchNorm's step counter as int64: read as a counter, not a weight.
        case "I64" where name.hasSuffix("num_batches_tracked"): elementSize = 8
        default: throw InputError(path, "tensor '\(name)' has dtype \(dtype); only F32 is supported")
        }
        var bytes = elementSize
        for dimension in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw InputError(path, "tensor '\(name)' has an impossibly large shape \(shape)") }
            bytes = product
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard bytes == end - begin else {
            throw InputError(path, "tensor '\(name)' has shape \(shape) (\(bytes) bytes as \(dtype)) but data_offsets [\(begin), \(end)] span \(end - begin) bytes")
        }
        guard end <= dataSize else {
            throw InputError(path, "is truncated: tensor '\(name)' ends at byte \(end) of the data, which holds \(dataSize) (data_offsets [\(begin), \(end)])")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// JSON numbers arrive as NSNumber; `as? Int` succeeds only for exact integers (not 2.5,
    /// not 2^64 - 1), which is the check we want.
    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let integer = value as? Int else { return nil }
            result.append(integer)
        }
        return result
    }

    public static func write(path: String, tensors: [(name: String, tensor: Tensor)],
                             int64: [(name: String, shape: [Int], values: [Int64])] = [],
                             metadata: [String: String]) throws {
        var seen = Set<String>()
        for name in tensors.map(\.name) + int64.map(\.name) {
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw InputError(path, "cannot write: duplicate or reserved tensor name '\(name)'")
            }
        }
        for entry in int64 where entry.shape.reduce(1, *) != entry.values.count {
            throw InputError(path, "cannot write: int64 tensor '\(entry.name)' has \(entry.values.count) values for shape \(entry.shape)")
        }

        var json = "{"
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0]!))" }
            json += "\"__metadata__\":{\(pairs.joined(separator: ","))},"
        }
        var offset = 0
        var items: [String] = []
        func describe(_ name: String, _ dtype: String, _ shape: [Int], _ bytes: Int) {
            let dims = shape.map(String.init).joined(separator: ",")
            items.append("\(quoted(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(dims)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        for (name, tensor) in tensors { describe(name, "F32", tensor.shape, tensor.count * 4) }
        for entry in int64 { describe(entry.name, "I64", entry.shape, entry.values.count * 8) }
        json += items.joined(separator: ",") + "}"

        var header = Array(json.utf8)
        // Padding keeps the data buffer 8-byte aligned for readers that map the file.
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        var length = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { length[i] = UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64(i))) }

        try writeAtomically(to: path) { temporary in
            let file = try OutputFile(temporary, reportAs: path)
            try file.write(length)
            try file.write(header)
            for (_, tensor) in tensors { try file.write(tensor.data, count: tensor.count * 4) }
            for entry in int64 {
                try entry.values.withUnsafeBytes { if let base = $0.baseAddress { try file.write(base, count: $0.count) } }
            }
            try file.close()
        }
    }

    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
