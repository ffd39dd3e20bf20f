#!/bin/bash
# mk.sh NAME: harness binary $OUT/NAME (default /tmp/p68) from the working tree's ConvTiles.c and ConvBlock.h (SRC=DIR: another copy)
# with AVX2's 1x1 kernels only (18 s; ALL2=1 CFLAGS=-DKEEP2: all of AVX2's kernels, 75 s), linked with
# benchmarks/conv_kernel_bench.c and the other kernels of .build/release (run from the repository)
set -e
export REPO=${REPO:-$(git rev-parse --show-toplevel)}
D=${OUT:-/tmp/p68}/$1.d; mkdir -p $D; cp ${SRC:-$REPO/Sources/CKernels}/ConvBlock.h $D/
python3 - $D <<'PY'
import re,sys
D=sys.argv[1]
s=open(__import__('os').environ.get('SRC',__import__('os').environ['REPO']+'/Sources/CKernels')+'/ConvTiles.c').read()
for name in (['conv_avx512,','conv_avx512_prefetching,'] if __import__('os').environ.get('ALL2') else ['conv_avx512,','conv_avx512_prefetching,','conv_avx2,','conv_avx2_prefetching,']):
    s=re.sub(r'^KERNEL\('+re.escape(name)+r'.*$', '', s, flags=re.M)
s=re.sub(r'^PRODUCTS\(products.*$', '', s, flags=re.M)
stub='''
static void dummyk(const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out) { __builtin_trap(); }
static void dummyp(const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t q0, int32_t q1, float *products, int32_t pitch) { __builtin_trap(); }
#define conv_avx512 dummyk
#define conv_avx512_prefetching dummyk
#ifndef KEEP2
#define conv_avx2 dummyk
#define conv_avx2_prefetching dummyk
#endif
#define products_avx512 dummyp
#define products_avx512_prefetching dummyp
#define products_avx2 dummyp
#define products_avx2_prefetching dummyp
#define products_avx2_contiguous dummyp
#define products_avx2_contiguous_prefetching dummyp
'''
s=s.replace('void isp_conv_products(', stub+'void isp_conv_products(',1)
open(D+'/ct.c','w').write(s)
PY
O=$(ls $REPO/.build/release/CKernels.build/*.o | grep -v ConvTiles)
clang -O2 $CFLAGS -I $REPO/Sources/CKernels/include -I $REPO/Sources/CKernels -I $D -c $D/ct.c -o $D/ct.o
clang -O2 -I $REPO/Sources/CKernels/include -I $REPO/benchmarks $REPO/benchmarks/conv_kernel_bench.c $D/ct.o $O -o ${OUT:-/tmp/p68}/$1 -lm -lpthread
