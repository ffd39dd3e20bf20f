import InstanceSparsity
BLASRuntime.ensureFastKernels()
print(BLASRuntime.summary)
