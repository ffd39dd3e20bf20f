// Preloaded into a process whose copy of a library had its `cpuid` and `xgetbv` instructions
// replaced by `ud2` (benchmarks/ort_avx2.py): each one then traps here, and this handler runs the
// real instruction and answers as a CPU without AVX-512 would (no AVX-512 feature bits in leaf 7,
// XCR0 without the opmask and ZMM state), so the library picks its AVX2 kernels on an AVX-512
// machine. ONNX Runtime has no switch for that, and these VMs have no CPUID faulting
// (`arch_prctl(ARCH_SET_CPUID)`) that would do it for the whole process.
//
// The patched places are listed in the file named by HIDE_AVX512_SITES: the library's file name on
// the first line, then per line "cpuid" or "xgetbv" and its address in the library (hexadecimal,
// from where the library is loaded). A trap anywhere else is a real one: the handler puts the
// default action back, and the instruction, run again, ends the process as it would have.
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

enum { MAX_SITES = 1024 };
static struct { uintptr_t offset; int isCpuid; } sites[MAX_SITES];
static int siteCount;
static char library[256];

// Leaf 7 subleaf 0: EBX AVX512F, DQ, IFMA, PF, ER, CD, BW, VL; ECX VBMI, VBMI2, VNNI, BITALG,
// VPOPCNTDQ; EDX 4VNNIW, 4FMAPS, VP2INTERSECT, FP16. Subleaf 1: EAX AVX512_BF16.
static const uint32_t ebx7 = (1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31);
static const uint32_t ecx7 = (1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14);
static const uint32_t edx7 = (1u << 2) | (1u << 3) | (1u << 8) | (1u << 23);
static const uint32_t eax71 = 1u << 5;
static const uint64_t zmmState = 0xe0;  // XCR0 bits 5-7: opmask, ZMM_Hi256, Hi16_ZMM

static void trap(int number, siginfo_t *info, void *context) {
    (void)number; (void)info;
    ucontext_t *uc = context;
    greg_t *r = uc->uc_mcontext.gregs;
    Dl_info where;
    const char *name;
    if (dladdr((void *)r[REG_RIP], &where) && where.dli_fname && (name = strrchr(where.dli_fname, '/')) &&
        strcmp(name + 1, library) == 0) {
        const uintptr_t offset = (uintptr_t)r[REG_RIP] - (uintptr_t)where.dli_fbase;
        for (int i = 0; i < siteCount; i++) {
            if (sites[i].offset != offset) continue;
            if (sites[i].isCpuid) {
                unsigned a, b, c, d;
                const unsigned leaf = (unsigned)r[REG_RAX], subleaf = (unsigned)r[REG_RCX];
                __cpuid_count(leaf, subleaf, a, b, c, d);
                if (leaf == 7 && subleaf == 0) { b &= ~ebx7; c &= ~ecx7; d &= ~edx7; }
                if (leaf == 7 && subleaf == 1) a &= ~eax71;
                if (leaf == 0xd && subleaf == 0) a &= ~(unsigned)zmmState;
                r[REG_RAX] = a; r[REG_RBX] = b; r[REG_RCX] = c; r[REG_RDX] = d;
                r[REG_RIP] += 2;
            } else {
                uint32_t lo, hi;
                __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"((uint32_t)r[REG_RCX]));
                uint64_t value = ((uint64_t)hi << 32 | lo);
                if ((uint32_t)r[REG_RCX] == 0) value &= ~zmmState;
                r[REG_RAX] = (uint32_t)value; r[REG_RDX] = (uint32_t)(value >> 32);
                r[REG_RIP] += 3;
            }
            return;
        }
    }
    struct sigaction deflt = {.sa_handler = SIG_DFL};
    sigaction(SIGILL, &deflt, NULL);
}

__attribute__((constructor)) static void install(void) {
    const char *path = getenv("HIDE_AVX512_SITES");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) { fprintf(stderr, "hide_avx512: HIDE_AVX512_SITES must name the sites file\n"); exit(2); }
    char kind[16];
    unsigned long offset;
    if (fscanf(f, "%255s", library) != 1) { fprintf(stderr, "hide_avx512: %s: no library name\n", path); exit(2); }
    while (siteCount < MAX_SITES && fscanf(f, "%15s %lx", kind, &offset) == 2) {
        sites[siteCount].offset = offset;
        sites[siteCount].isCpuid = strcmp(kind, "cpuid") == 0;
        siteCount++;
    }
    fclose(f);
    struct sigaction action = {.sa_sigaction = trap, .sa_flags = SA_SIGINFO};
    sigemptyset(&action.sa_mask);
    sigaction(SIGILL, &action, NULL);
}
