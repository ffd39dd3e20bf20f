import Foundation
import InstanceSparsity

let isa: InstructionSet
do {
    isa = try BLASRuntime.ensureFastKernels()
} catch {
    FileHandle.standardError.write("isp: \(error)\n".data(using: .utf8)!)
    exit(2)
}
// A test hook, but never silently ignored: a value that is not a number of seconds is refused.
if let text = ProcessInfo.processInfo.environment["ISP_PROGRESS_AFTER"], !(Double(text).map { $0 >= 0 && $0.isFinite } ?? false) {
    FileHandle.standardError.write("isp: ISP_PROGRESS_AFTER must be a number of seconds, got '\(text)'\n".data(using: .utf8)!)
    exit(2)
}
setvbuf(stdout, nil, _IOLBF, 0)
let launch = Launch()

let commands: [Command.Type] = [TrainCommand.self, EvalCommand.self, InfoCommand.self, AnalyzeCommand.self, SweepCommand.self,
                                 BenchCommand.self, DemoCommand.self, TuneCommand.self, PredictCommand.self, ServeCommand.self,
                                 ExportCommand.self, SlimCommand.self, ReorderCommand.self]

/// The overview goes to stdout when asked for (--help) and to stderr after a usage error.
func printOverview(toStandardError: Bool = false) {
    let text = "isp \(instanceSparsityVersion): instance-wise sparsity for convolutional networks\n\nCommands:\n"
        + commands.map { "  " + $0.usage + "\n" }.joined()
        + "\nRun 'isp help COMMAND' or 'isp COMMAND --help' for details, 'isp --version' for the version.\n"
        + "Exit status: 0 success, 1 bad input or failed run, 2 usage error, 130/143 interrupted (SIGINT/SIGTERM).\n"
    if toStandardError { FileHandle.standardError.write(text.data(using: .utf8)!) } else { print(text, terminator: "") }
}

func unknownCommand(_ name: String) -> Never {
    FileHandle.standardError.write("isp: unknown command '\(name)'\n".data(using: .utf8)!)
    printOverview(toStandardError: true)
    launch.exit(2)
}

var argv = Array(CommandLine.arguments.dropFirst())
// `isp --version`, `--help` and `help [COMMAND]` take nothing more.
if let first = argv.first, ["--version", "--help", "-h", "help"].contains(first), argv.count > (first == "help" ? 2 : 1) {
    FileHandle.standardError.write("isp: unexpected argument '\(argv[first == "help" ? 2 : 1])' after '\(first)'\n".data(using: .utf8)!)
    launch.exit(2)
}
switch argv.first {
case nil:
    printOverview(toStandardError: true)
    launch.exit(2)
case "--version":
    print("isp \(instanceSparsityVersion)")
    launch.exit(0)
case "--help", "-h":
    printOverview()
    launch.exit(0)
case "help":
    // `isp help CMD` is `isp CMD --help`; `isp help help` and `isp help` the overview.
    guard argv.count > 1, argv[1] != "help" else { printOverview(); launch.exit(0) }
    guard let command = commands.first(where: { $0.name == argv[1] }) else { unknownCommand(argv[1]) }
    print(command.help, terminator: "")
    launch.exit(0)
default:
    break
}
let name = argv.removeFirst()
guard let command = commands.first(where: { $0.name == name }) else { unknownCommand(name) }
if argv.contains("--help") || argv.contains("-h") {
    print(command.help, terminator: "")
    launch.exit(0)
}
var arguments = Arguments(argv, declared: command.options)
do {
    // The command runs on one engine, made here: ISP_ISA's instruction set (else the CPU's best) on
    // the cores this process may use, read after MPI has narrowed them.
    try command.run(&arguments, processes: launch.processes, engine: Engine(isa: isa))
    launch.exit(0)
} catch let error as UsageError {
    FileHandle.standardError.write("isp \(name): \(error.message)\nusage: \(command.usage)\n".data(using: .utf8)!)
    launch.exit(2)
} catch let error as ExitError {
    launch.fail(command: name, error.message, status: error.status)
} catch {
    launch.fail(command: name, "\(error)", status: 1)
}
