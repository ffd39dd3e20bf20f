"""Where the VM put its two vCPUs: the cache-line round trip between cpu 0 and cpu 1 measured by
benchmarks/pingpong.c (built here once), about 65-140 ns when they are close and 350-460 ns when
far apart on the 2-vCPU AMD EPYC VMs of this project. isp's batch-1 splits pay a fixed time per
split far apart (docs/RESULTS.md, stop 84): ResNet-18 w0.5 read 0.80-0.85 of ONNX Runtime's time
close and 1.00-1.02 far, mobilenet_v2 at 224 the other way round, so a ratio means little without
the placement it was measured in.
"""
from __future__ import annotations

import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


class Placement:
    def __init__(self) -> None:
        self.program = os.path.join(tempfile.mkdtemp(prefix="isp-placement-"), "pingpong")
        subprocess.run(["gcc", "-O2", "-pthread", os.path.join(HERE, "pingpong.c"), "-o", self.program], check=True)

    def round_trip_ns(self) -> float:
        """pingpong prints 'round trip N ns'."""
        return float(subprocess.run([self.program], capture_output=True, text=True, check=True).stdout.split()[2])
