#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void old_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out);
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=(i%7)*0.01f;return p;}
// IN OUT S K(1|3) LAYOUT(0 unrolled/pointwise whole grid,1 bordered rows) ROUNDS
int main(int argc,char**argv){
  int in=atoi(argv[1]),oc=atoi(argv[2]),S=atoi(argv[3]),k=atoi(argv[4]),rowsMode=atoi(argv[5]),rounds=atoi(argv[6]);
  int kk=k*k,tiles=(oc+15)/16,rows=in*kk,pix=S*S,pitch=S+2,plane=k==1?pix:rowsMode?(S+2)*pitch:kk*pix;
  float*panels=filled((size_t)tiles*rows*16),*x=filled((size_t)in*plane+64),*out=filled((size_t)oc*pix+64),*bias=filled(oc);
  int32_t*xo=malloc(4*in),*wc=malloc(4*in),taps[9];
  for(int i=0;i<in;i++){xo[i]=i*plane;wc[i]=i;}
  for(int t=0;t<kk;t++)taps[t]=k==1?0:rowsMode?(t/3)*pitch+t%3:t*pix;
  isp_conv_input I={x,xo,wc,in,taps,kk,1};
  isp_conv_output o={out,pix,bias,-1e30f,1e30f,NULL};
  double best[2]={1e9,1e9},sum[2]={0};
  for(int r=0;r<rounds;r++)for(int v=0;v<2;v++){
    double t=now();
    if(rowsMode){for(int y=0;y<S;y++)(v?isp_conv_tiles:old_conv_tiles)(ISP_AVX2,&I,panels,rows,oc,0,tiles,y*pitch,y*pitch+S,y*(S-pitch),&o);}
    else (v?isp_conv_tiles:old_conv_tiles)(ISP_AVX2,&I,panels,rows,oc,0,tiles,0,pix,0,&o);
    t=now()-t;if(t<best[v])best[v]=t;sum[v]+=t;}
  double macs=(double)in*oc*pix*kk;
  printf("%4d->%4d %3dx%-3d k%d %s: old best %5.1f mean %5.1f | new best %5.1f mean %5.1f GMAC/s  new/old mean time %.3f\n",in,oc,S,S,k,rowsMode?"rows ":"whole",macs/best[0]/1e9,macs/(sum[0]/rounds)/1e9,macs/best[1]/1e9,macs/(sum[1]/rounds)/1e9,sum[1]/sum[0]);
}
