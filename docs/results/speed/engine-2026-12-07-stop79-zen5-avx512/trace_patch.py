import sys
p = sys.argv[1] + '/Sources/InstanceSparsity/Sparsity/SparseExecutor.swift'
s = open(p).read()
s = s.replace("""            splitChoices[kind].record(usesPool: usesPool, seconds: seconds, macs: context.macs)
""", """            splitChoices[kind].record(usesPool: usesPool, seconds: seconds, macs: context.macs)
            if traceSplit { FileHandle.standardError.write("split \\(usesPool ? "P" : "1") \\(Int(seconds * 1e6))\\n".data(using: .utf8)!) }
""")
s = s.replace("import Dispatch\n", "import Dispatch\nimport Foundation\nlet traceSplit = ProcessInfo.processInfo.environment[\"TRACE_SPLIT\"] != nil\n", 1)
open(p, 'w').write(s)
