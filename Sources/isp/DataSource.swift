import Foundation
import InstanceSparsity

/// Which data a command reads: a dataset name and its directory, taken from the flags, else from
/// the checkpoint, else the dataset's default place, and always said on stderr.
struct DataSource {
    let dataset: String
    /// Absolute.
    let directory: String
    /// Where the choice came from, for the note: "--data-dir", "stored in m.safetensors", ...
    let origin: String
    /// Class folders only: how images become inputs, and whether undecodable files are skipped.
    var folder: DatasetLoader.FolderOptions? = nil

    static let datasetOption = Option("--dataset", DatasetLoader.names.joined(separator: "|"),
                                      "the dataset (default: the one recorded in MODEL; for train: fashion-mnist)")
    static let directoryOption = Option("--data-dir", "DIR",
                                        "where its files are (default: the directory recorded in MODEL, else \(FashionMNIST.defaultDirectory) for fashion-mnist; cifar10 has no default)")

    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// For a new training run.
    init(dataset: String, directory: String?) throws {
        self.dataset = dataset
        if let directory {
            self.directory = DataSource.absolute(directory); origin = "--data-dir"
        } else {
            self.directory = try DataSource.defaultDirectory(for: dataset); origin = "default"
        }
    }

    /// Where a dataset is when nothing names a directory; a usage error for those with no
    /// standard place (the user must say where the files are).
    private static func defaultDirectory(for dataset: String) throws -> String {
        guard let place = DatasetLoader.defaultDirectory(for: dataset) else {
            throw UsageError(message: "--dataset \(dataset) needs --data-dir DIR: it has no standard place"
                             + (dataset == "folder" ? " (DIR/train/<class>/ and DIR/val/<class>/)" : " (the CIFAR-10 binary version's .bin files)"))
        }
        return place
    }

    /// For a command on a checkpoint: the flags override what the checkpoint recorded. A recorded
    /// directory that is gone is an error, never a silent switch to some other data.
    /// `skipBad`: the run left undecodable folder files out (recorded in the checkpoint), so do the same.
    init(dataset flagDataset: String?, directory flagDirectory: String?, model spec: ModelSpec, path: String, skipBad: Bool = false) throws {
        dataset = flagDataset ?? spec.dataset
        guard DatasetLoader.names.contains(dataset) else {
            throw InputError(path, "records dataset '\(dataset)', which isp cannot read; pass --dataset (\(DatasetLoader.names.joined(separator: ", "))) and --data-dir (or time it without data: isp bench MODEL --random-inputs)")
        }
        if let flagDirectory {
            directory = DataSource.absolute(flagDirectory); origin = "--data-dir"
        } else if dataset == spec.dataset, let stored = spec.dataDirectory {
            guard FileManager.default.fileExists(atPath: stored) else {
                throw InputError(stored, "is the data directory recorded in \(path), and it no longer exists; pass --data-dir DIR")
            }
            directory = stored; origin = "recorded in \(path)"
        } else {
            directory = try DataSource.defaultDirectory(for: dataset); origin = "default for \(dataset)"
        }
        // Class folders are read as the model was trained: its input size, channels and recipe.
        if dataset == "folder" {
            let recipe = spec.preprocessing ?? Preprocessing(inputSize: spec.inputSize, channels: spec.inputChannels).recipe
            folder = .init(preprocessing: Preprocessing(inputSize: spec.inputSize, channels: spec.inputChannels, recipe: recipe),
                           skipBad: skipBad)
        }
    }

    /// The split in memory or, for class folders, streamed from disk; says how many files it skipped.
    func open(_ split: Split, limit: Int?) throws -> any DataSplit {
        let data = try DatasetLoader.open(name: dataset, directory: directory, split: split, limit: limit, folder: folder)
        if let images = data as? ImageFolder, !images.skipped.isEmpty {
            note("skipped \(images.skipped.count) of \(images.count + images.skipped.count) files in \(images.directory) that cannot be decoded (first: \(images.skipped[0]))")
        }
        return data
    }

    var description: String { "\(dataset) from \(directory) (\(origin))" }
}
