import Foundation
import InstanceSparsity

BLASRuntime.ensureFastKernels()
setvbuf(stdout, nil, _IOLBF, 0)

let commands: [Command.Type] = [TrainCommand.self, EvalCommand.self, InfoCommand.self, AnalyzeCommand.self, SweepCommand.self, BenchCommand.self, DemoCommand.self, ExportCommand.self]

/// The overview goes to stdout when asked for (--help) and to stderr after a usage error.
func printOverview(toStandardError: Bool = false) {
    let text = "isp: instance-wise sparsity for convolutional networks\n\nCommands:\n"
        + commands.map { "  " + $0.usage + "\n" }.joined()
        + "\nRun 'isp COMMAND --help' for details. Exit status: 0 success, 1 bad input or failed run, 2 usage error.\n"
    if toStandardError { FileHandle.standardError.write(text.data(using: .utf8)!) } else { print(text, terminator: "") }
}

var argv = Array(CommandLine.arguments.dropFirst())
guard let name = argv.first, !["--help", "-h", "help"].contains(name) else {
    printOverview(toStandardError: argv.isEmpty)
    exit(argv.isEmpty ? 2 : 0)
}
guard let command = commands.first(where: { $0.name == name }) else {
    FileHandle.standardError.write("isp: unknown command '\(name)'\n".data(using: .utf8)!)
    printOverview(toStandardError: true)
    exit(2)
}
argv.removeFirst()
if argv.contains("--help") || argv.contains("-h") {
    print("usage: " + command.usage + "\n\n" + command.help)
    exit(0)
}
var arguments = Arguments(argv)
do {
    try command.run(&arguments)
} catch let error as UsageError {
    FileHandle.standardError.write("isp \(name): \(error.message)\nusage: \(command.usage)\n".data(using: .utf8)!)
    exit(2)
} catch {
    FileHandle.standardError.write("isp \(name): \(error)\n".data(using: .utf8)!)
    exit(1)
}
