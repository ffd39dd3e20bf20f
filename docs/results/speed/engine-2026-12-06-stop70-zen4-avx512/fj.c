// Fork-join cost of the engine's pool (SpinPool.c): isp_parallel with two tasks of fixed work
// (ITERS multiply-adds in a chain, about 0.4 us), minus that work run alone, best of 7 rounds of N.
//   gcc -O2 -pthread -I Sources/CKernels/include fj.c Sources/CKernels/SpinPool.c -o /tmp/fj && /tmp/fj [N] [ITERS]
// (spinpool-one-line.patch: the variant measured against it, the job in one cache line.)
#define _GNU_SOURCE
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static long now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000L+t.tv_nsec;}
static long iters; static volatile double sinkd;
static void task(void *c, int32_t t){ (void)c; double a=t; for(long i=0;i<iters;i++) a=a*0.999999+1.0; sinkd=a; }
int main(int argc,char**argv){
  int n = argc>1?atoi(argv[1]):20000; iters = argc>2?atol(argv[2]):250;
  isp_parallel_threads();
  long s=now(); for(int i=0;i<n;i++) task(NULL,0); double alone=(double)(now()-s)/n;
  double best=1e9;
  for(int r=0;r<7;r++){
    s=now();
    for(int i=0;i<n;i++) isp_parallel(2, task, NULL, 1);
    double per=(double)(now()-s)/n - alone; if(per<best)best=per;
  }
  printf("task %.0f ns, fork-join overhead min %.0f ns\n", alone, best);
}
