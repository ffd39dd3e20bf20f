#if canImport(Glibc)
import Glibc
#endif

/// A split of a class-folder data set in torchvision's ImageFolder layout, DIR/train/<class>/...
/// and DIR/val/<class>/... (DIR/test/ is taken when there is no val/), decoded from its files
/// batch by batch: memory holds the file list, not the images.
///
/// Order follows torchvision: classes are the sorted folder names of DIR/train (the validation
/// split uses them too, so a class means the same label in both); files are found as its
/// make_dataset finds them (every file under a class folder, subfolders included, folders in
/// sorted order and files sorted within each), kept when their name ends with one of
/// `ImageDecoder.extensions`, ignoring case.
public final class ImageFolder: DataSplit {
    public let name = "folder"
    /// DIR/train or DIR/val (or DIR/test).
    public let directory: String
    public let classNames: [String]
    public let files: [String]
    public let labels: [Int32]
    public let preprocessing: Preprocessing
    /// Files dropped because they could not be decoded (with `skipBad`), with their errors.
    public let skipped: [InputError]

    public var count: Int { files.count }
    public var classes: Int { classNames.count }
    public var channels: Int { preprocessing.channels }
    public var height: Int { preprocessing.inputSize }
    public var width: Int { preprocessing.inputSize }

    /// How many images (evenly spaced through the split) the normalisation statistics are
    /// measured on: decoding all of a large folder would take as long as an epoch of loading.
    /// On Fashion-MNIST written as a folder (benchmarks/write_folder.py), 1000 images give mean
    /// 0.2171 and std 0.3293 against 0.2190 and 0.3318 over all 60000.
    public static let statisticsSample = 1000

    /// Opens `split` of the data set at `root`. `limit` keeps that many files, evenly spaced
    /// (the first N would all be of the first classes). `skipBad` decodes every file once now
    /// and drops those that fail; without it, a bad file stops the run when it is first decoded.
    public init(root: String, split: Split, preprocessing: Preprocessing, limit: Int? = nil, skipBad: Bool = false) throws {
        let classNames = try Self.classNames(root: root)
        let directory = try Self.splitDirectory(root: root, split: split)
        var files: [String] = [], labels: [Int32] = []
        let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, Int32($0)) })
        for name in try Self.sortedEntries(directory).filter({ $0.isDirectory }).map(\.name) {
            let folder = directory + "/" + name
            guard let label = index[name] else {
                throw InputError(folder, "class '\(name)' has no folder in \(root)/train, so it has no label")
            }
            let found = try Self.imageFiles(under: folder)
            guard !found.isEmpty else {
                let others = ImageDecoder.extensions.filter { !ImageDecoder.decodedExtensions.contains($0) }
                throw InputError(folder, "no image files in this class folder (expected PNG or JPEG files ending in "
                                 + "\(ImageDecoder.decodedExtensions.joined(separator: " ")); as in torchvision, files ending in "
                                 + "\(others.joined(separator: " ")) are listed too, but they do not decode)")
            }
            files += found
            labels += repeatElement(label, count: found.count)
        }
        guard !files.isEmpty else { throw InputError(directory, "no class folders with images") }
        if let limit, limit < files.count {
            let kept = (0..<limit).map { $0 * files.count / limit }
            files = kept.map { files[$0] }
            labels = kept.map { labels[$0] }
        }
        var skipped: [InputError] = []
        if skipBad {
            let errors = Self.decodeAll(files, channels: preprocessing.channels)
            skipped = errors.compactMap { $0 }
            let good = errors.indices.filter { errors[$0] == nil }
            guard !good.isEmpty else { throw InputError(directory, "none of the \(files.count) image files could be decoded (first: \(skipped[0]))") }
            files = good.map { files[$0] }
            labels = good.map { labels[$0] }
        }
        self.directory = directory
        self.classNames = classNames
        self.files = files
        self.labels = labels
        self.preprocessing = preprocessing
        self.skipped = skipped
    }

    // MARK: batches

    public func fill(_ batch: Tensor, labels: inout [Int32], indices: ArraySlice<Int>, augmentation: Augmentation?,
                     normalization: BatchMaker) throws {
        let c = channels, s = preprocessing.inputSize, size = c * s * s, order = Array(indices)
        batch.resize([order.count, c, s, s])
        labels = order.map { self.labels[$0] }
        // RandomResizedCrop draws from the image's generator on its thread; the padded crop's
        // shift is drawn here.
        let resized = preprocessing.recipe == .resizedCrop
        let cropping = resized ? augmentation : nil
        let shifts = resized ? [] : order.map { augmentation?.shift(forImage: $0) ?? BatchMaker.noShift }
        var errors = [InputError?](repeating: nil, count: order.count)
        let dst = batch.data
        errors.withUnsafeMutableBufferPointer { errors in
            Engine.default.forEachPiece(of: order.count, pieces: order.count) { items, _ in
                for i in items {
                    do {
                        let image = try ImageDecoder.decode(path: files[order[i]], channels: c)
                        var pixels = [UInt8](repeating: 0, count: size), flip = false
                        pixels.withUnsafeMutableBufferPointer { out in
                            if let cropping {
                                var generator = cropping.generator(forImage: order[i])
                                let box = Preprocessing.randomResizedCropBox(width: image.width, height: image.height, rng: &generator)
                                preprocessing.resizedCrop(image, box: box, into: out.baseAddress!)
                                flip = generator.next() & 1 == 1
                            } else {
                                preprocessing.evaluationCrop(image, into: out.baseAddress!)
                            }
                        }
                        var planes = Self.planes(pixels, channels: c, side: s, flip: flip)
                        planes.withUnsafeMutableBufferPointer { p in
                            normalization.copy(p.baseAddress!, to: dst + i * size, channels: c, height: s, width: s,
                                               shift: shifts.isEmpty ? BatchMaker.noShift : shifts[i])
                        }
                    } catch {
                        errors[i] = error as? InputError ?? InputError(files[order[i]], "\(error)")
                    }
                }
            }
        }
        if let error = errors.first(where: { $0 != nil }) { throw error! }
    }

    /// Interleaved 8-bit rows to C x S x S floats in [0, 1] as torchvision's ToTensor makes them
    /// (a division by 255), mirrored left to right when `flip`.
    static func planes(_ pixels: [UInt8], channels c: Int, side s: Int, flip: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: c * s * s)
        for y in 0..<s {
            for x in 0..<s {
                let from = (y * s + (flip ? s - 1 - x : x)) * c
                for ch in 0..<c { out[(ch * s + y) * s + x] = unitScale(pixels[from + ch]) }
            }
        }
        return out
    }

    /// Mean and standard deviation over `statisticsSample` evenly spaced images after the
    /// evaluation transform. Each image's sums are kept apart and added in order, so the result
    /// does not depend on the threads.
    public func channelStatistics() throws -> (mean: [Float], std: [Float]) {
        let c = channels, s = preprocessing.inputSize
        let sample = (0..<min(count, Self.statisticsSample)).map { $0 * count / min(count, Self.statisticsSample) }
        var sums = [Double](repeating: 0, count: sample.count * 2 * c)
        var errors = [InputError?](repeating: nil, count: sample.count)
        sums.withUnsafeMutableBufferPointer { sums in
            errors.withUnsafeMutableBufferPointer { errors in
                Engine.default.forEachPiece(of: sample.count, pieces: sample.count) { items, _ in
                    for i in items {
                        do {
                            let image = try ImageDecoder.decode(path: files[sample[i]], channels: c)
                            var pixels = [UInt8](repeating: 0, count: c * s * s)
                            pixels.withUnsafeMutableBufferPointer { preprocessing.evaluationCrop(image, into: $0.baseAddress!) }
                            let planes = Self.planes(pixels, channels: c, side: s, flip: false)
                            for ch in 0..<c {
                                var sum = 0.0, squares = 0.0
                                for v in planes[(ch * s * s)..<((ch + 1) * s * s)] { sum += Double(v); squares += Double(v) * Double(v) }
                                sums[(i * 2) * c + ch] = sum
                                sums[(i * 2 + 1) * c + ch] = squares
                            }
                        } catch {
                            errors[i] = error as? InputError ?? InputError(files[sample[i]], "\(error)")
                        }
                    }
                }
            }
        }
        if let error = errors.first(where: { $0 != nil }) { throw error! }
        let total = Double(sample.count * s * s)
        var mean = [Float](), std = [Float]()
        for ch in 0..<c {
            var sum = 0.0, squares = 0.0
            for i in sample.indices { sum += sums[(i * 2) * c + ch]; squares += sums[(i * 2 + 1) * c + ch] }
            let m = sum / total
            mean.append(Float(m))
            std.append(Float(max(squares / total - m * m, 0).squareRoot()))
        }
        return (mean, std)
    }

    // MARK: finding the files

    /// The sorted class folder names of DIR/train.
    public static func classNames(root: String) throws -> [String] {
        guard isDirectory(root) else { throw InputError(root, "no such directory (pass --data-dir DIR with DIR/train/<class>/ and DIR/val/<class>/)") }
        let train = root + "/train"
        guard isDirectory(train) else {
            throw InputError(train, "no such directory (a folder data set needs DIR/train/<class>/ and DIR/val/<class>/)")
        }
        let names = try sortedEntries(train).filter(\.isDirectory).map(\.name)
        guard names.count >= 2 else {
            throw InputError(train, names.isEmpty ? "no class folders" : "only one class folder ('\(names[0])'); classification needs at least 2")
        }
        return names
    }

    static func splitDirectory(root: String, split: Split) throws -> String {
        if split == .train { return root + "/train" }
        for name in ["val", "test"] where isDirectory(root + "/" + name) { return root + "/" + name }
        throw InputError(root + "/val", "no such directory (nor \(root)/test) for the validation split")
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Python's sort order for strings: by Unicode code points.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// Entries of a directory (without . and ..) sorted by name; whether each is a directory
    /// follows symbolic links, as Python's DirEntry.is_dir and os.walk(followlinks=True) do.
    static func sortedEntries(_ path: String) throws -> [(name: String, isDirectory: Bool)] {
        guard let dir = opendir(path) else { throw InputError(path, "cannot list: \(systemErrorText())") }
        defer { closedir(dir) }
        var entries: [(name: String, isDirectory: Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            entries.append((name, isDirectory(path + "/" + name)))
        }
        return entries.sorted { precedes($0.name, $1.name) }
    }

    /// torchvision's make_dataset for one class: sorted(os.walk(folder)), each folder's files
    /// sorted, kept by extension. A folder reached twice through links is walked once.
    static func imageFiles(under folder: String) throws -> [String] {
        var walked: [(root: String, files: [String])] = []
        var seen = Set<[UInt64]>()
        func walk(_ path: String) throws {
            var st = stat()
            guard stat(path, &st) == 0, seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { return }
            let entries = try sortedEntries(path)
            walked.append((path, entries.filter { !$0.isDirectory }.map(\.name)))
            for entry in entries where entry.isDirectory { try walk(path + "/" + entry.name) }
        }
        try walk(folder)
        walked.sort { precedes($0.root, $1.root) }
        return walked.flatMap { root, names in
            names.filter { name in
                let lower = name.lowercased()
                return ImageDecoder.extensions.contains { lower.hasSuffix($0) }
            }.map { root + "/" + $0 }
        }
    }

    /// Decodes every file (on all cores, one image per core in memory at a time) and returns
    /// each one's error, nil for those that decode.
    static func decodeAll(_ files: [String], channels: Int) -> [InputError?] {
        var errors = [InputError?](repeating: nil, count: files.count)
        errors.withUnsafeMutableBufferPointer { errors in
            Engine.default.forEachPiece(of: files.count, pieces: files.count) { items, _ in
                for i in items {
                    do { _ = try ImageDecoder.decode(path: files[i], channels: channels) } catch {
                        errors[i] = error as? InputError ?? InputError(files[i], "\(error)")
                    }
                }
            }
        }
        return errors
    }
}
