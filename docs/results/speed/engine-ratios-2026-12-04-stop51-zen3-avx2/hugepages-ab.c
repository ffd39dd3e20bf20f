// 1x1 convolution shapes: the engine's isp_conv_tiles on buffers in 4 KB pages against the same
// call on buffers in 2 MB pages (MADV_HUGEPAGE); same code, alternating calls, medians.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <sys/mman.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *region(size_t n, int huge){
  size_t bytes=(n*4+(2<<20)-1)/(2<<20)*(2<<20)+(2<<20);
  char*p=mmap(NULL,bytes,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  char*a=(char*)(((uintptr_t)p+(2<<20)-1)&~(uintptr_t)((2<<20)-1));
  madvise(a,bytes-(2<<20),huge?MADV_HUGEPAGE:MADV_NOHUGEPAGE);
  float*f=(float*)(a+64*((n/7)%64)); // some line offset within the page, same for both
  for(size_t i=0;i<n;i++)f[i]=((i*7919)%13)*0.01f-0.06f;
  return f;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int C=atoi(argv[1]),O=atoi(argv[2]),P=atoi(argv[3]),rounds=atoi(argv[4]);
  int tiles=(O+15)/16; float*pan[2],*x[2],*bias[2],*out[2];
  for(int h=0;h<2;h++){pan[h]=region((size_t)tiles*C*16,h);x[h]=region((size_t)C*P+64,h);bias[h]=region(O,h);out[h]=region((size_t)O*P+64,h);}
  int32_t*xo=malloc(4*C),*wc=malloc(4*C),zero=0; for(int i=0;i<C;i++){xo[i]=i*P;wc[i]=i;}
  double t[2][1000];
  for(int r=0;r<rounds;r++)for(int h0=0;h0<2;h0++){int h=(r&1)?1-h0:h0;
    isp_conv_input I={x[h],xo,wc,C,&zero,1,1,0};
    isp_conv_output o={out[h],P,bias[h],0,1e30f,NULL};
    double t0=now(); isp_conv_tiles(ISP_AVX2,&I,pan[h],C,O,0,tiles,0,P,0,&o); t[h][r]=now()-t0;}
  double md=0; for(size_t i=0;i<(size_t)O*P;i++){double d=fabs(out[0][i]-out[1][i]); if(d>md)md=d;}
  for(int h=0;h<2;h++)qsort(t[h],rounds,sizeof(double),cmpd);
  { char b[256]; FILE*f=fopen("/proc/self/smaps_rollup","r"); while(fgets(b,256,f)) if(strstr(b,"AnonHuge")) fputs(b,stdout); fclose(f);} double macs=(double)C*O*P;
  printf("%4d->%4d P %5d: 4K %5.1f  2M %5.1f GMAC/s (medians; 2M/4K time %.3f, min %.3f); maxdiff %.2g\n",C,O,P,
    macs/t[0][rounds/2]/1e9,macs/t[1][rounds/2]/1e9,t[1][rounds/2]/t[0][rounds/2],t[1][0]/t[0][0],md);
}
