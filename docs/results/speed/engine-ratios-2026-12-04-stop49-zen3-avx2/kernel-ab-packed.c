#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
// old: HEAD's kernel (unrolled rows); new: working tree's, on the same input packed by blocks
void old_conv_tiles(isp_isa isa, const void *in, const float *panels, int32_t rows, int32_t outChannels, int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out);
typedef struct { const float *x; const int32_t *xOffset; const int32_t *weightChannel; int32_t channels; const int32_t *tapOffset; int32_t taps; int32_t pixelStride; } old_input;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=((i*7919)%13)*0.01f-0.06f;return p;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
// IN OUT PIX K KEEP% ROUNDS [Q0 Q1]
int main(int argc,char**argv){
  int in=atoi(argv[1]),oc=atoi(argv[2]),pix=atoi(argv[3]),k=atoi(argv[4]),keep=atoi(argv[5]),rounds=atoi(argv[6]);
  int q0=argc>7?atoi(argv[7]):0,q1=argc>8?atoi(argv[8]):pix;
  int kk=k*k,tiles=(oc+15)/16,rows=in*kk,plane=kk*pix,B=isp_conv_packed_block(ISP_AVX2),blocks=(pix+B-1)/B;
  float*panels=filled((size_t)tiles*rows*16),*x=filled((size_t)in*plane+256),*outs[2],*bias=filled(oc);
  outs[0]=filled((size_t)oc*pix+64);outs[1]=filled((size_t)oc*pix+64);
  int32_t*xo=malloc(4*in),*wc=malloc(4*in),*po=malloc(4*in),taps[49],ptaps[49];int kc=0;
  for(int i=0;i<in;i++){ if((i*37)%100<keep){xo[kc]=i*plane;wc[kc]=i;po[kc]=kc*kk*B;kc++;} }
  for(int t=0;t<kk;t++){taps[t]=t*pix;ptaps[t]=t*B;}
  size_t pitch=(size_t)kc*kk*B; float*packed=calloc(blocks*pitch+64,4);
  for(int i=0;i<kc;i++)for(int t=0;t<kk;t++)for(int q=0;q<pix;q++) packed[(q/B)*pitch+i*kk*B+t*B+q%B]=x[xo[i]+t*pix+q];
  old_input I={x,xo,wc,kc,taps,kk,1};
  isp_conv_input P={packed,po,wc,kc,ptaps,kk,1,(int32_t)pitch};
  int32_t *ro=malloc(4*kc*kk),*rw=malloc(4*kc*kk),zero=0; for(int i=0;i<kc;i++)for(int t=0;t<kk;t++){ro[i*kk+t]=(i*kk+t)*B;rw[i*kk+t]=wc[i]*kk+t;}
  isp_conv_input R={packed,ro,rw,kc*kk,&zero,1,1,(int32_t)pitch};
  double t[3][400]; float*o3=filled((size_t)oc*pix+64);
  for(int r=0;r<rounds;r++)for(int v=0;v<3;v++){
    isp_conv_output o={v==2?o3:outs[v],pix,bias,0,1e30f,NULL};
    double t0=now();
    if(v==0) old_conv_tiles(ISP_AVX2,&I,panels,rows,oc,0,tiles,q0,q1,0,&o);
    else isp_conv_tiles(ISP_AVX2,v==2?&R:&P,panels,rows,oc,0,tiles,q0,q1,0,&o);
    t[v][r]=now()-t0;}
  int same=memcmp(outs[0],outs[1],(size_t)oc*pix*4)==0 && memcmp(outs[0],o3,(size_t)oc*pix*4)==0;
  for(int v=0;v<3;v++)qsort(t[v],rounds,sizeof(double),cmpd);
  double macs=(double)kc*oc*(q1-q0)*kk;
  printf("%4d(%3d%%)->%4d pix %3d [%d,%d) k%d: unrolled %5.1f packed %5.1f GMAC/s (medians) packed/unrolled %.3f rows/unrolled %.3f %s\n",in,keep,oc,pix,q0,q1,k,
    macs/t[0][rounds/2]/1e9,macs/t[1][rounds/2]/1e9,t[1][rounds/2]/t[0][rounds/2],t[2][rounds/2]/t[0][rounds/2],same?"identical":"DIFFERENT");
  return !same;
}
