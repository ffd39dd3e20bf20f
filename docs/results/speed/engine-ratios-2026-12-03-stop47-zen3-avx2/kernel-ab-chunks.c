#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void old_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out);
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=((i*7919)%13)*0.01f-0.06f;return p;}
typedef void (*fn)(isp_isa, const isp_conv_input *, const float *, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, const isp_conv_output *);
// IN OUT S K STRIDE MODE(0 unrolled whole,1 rows) SWIFTCHUNK(0 none) KEEP(%) ROUNDS
int main(int argc,char**argv){
  int in=atoi(argv[1]),oc=atoi(argv[2]),S=atoi(argv[3]),k=atoi(argv[4]),st=atoi(argv[5]),rowsMode=atoi(argv[6]),sc=atoi(argv[7]),keep=atoi(argv[8]),rounds=atoi(argv[9]);
  int kk=k*k,tiles=(oc+15)/16,rows=in*kk,os=S/st,pix=os*os,pitch=S+2,plane=k==1?S*S:rowsMode?(S+2)*pitch:kk*pix;
  float*panels=filled((size_t)tiles*rows*16),*x=filled((size_t)in*plane+256),*outs[2],*bias=filled(oc),*zb=calloc(oc,4);
  outs[0]=filled((size_t)oc*pix+64);outs[1]=filled((size_t)oc*pix+64);
  int32_t*xo=malloc(4*in),*wc=malloc(4*in),taps[9];int kc=0;
  for(int i=0;i<in;i++){ if((i*37)%100<keep){xo[kc]=i*plane;wc[kc]=i;kc++;} }
  for(int t=0;t<kk;t++)taps[t]=k==1?0:rowsMode?(t/k)*pitch+t%k:t*pix;
  isp_conv_input I={x,xo,wc,kc,taps,kk,rowsMode?st:1};
  fn f[2]={old_conv_tiles,isp_conv_tiles};
  double sum[2]={0};
  for(int r=0;r<rounds;r++)for(int v=0;v<2;v++){
    isp_conv_output o={outs[v],pix,bias,0,1e30f,NULL};
    double t=now();
    if(rowsMode){for(int y=0;y<os;y++)f[v](ISP_AVX2,&I,panels,rows,oc,0,tiles,y*pitch,y*pitch+os,y*os-y*pitch,&o);}
    else if(sc){ for(int a=0;a<kc;a+=sc){int e=a+sc<kc?a+sc:kc; isp_conv_input part=I; part.xOffset+=a; part.weightChannel+=a; part.channels=e-a;
        isp_conv_output po=o; if(a>0){po.bias=zb;po.residual=outs[v];} if(e<kc){po.low=-1e30f;po.high=1e30f;} f[v](ISP_AVX2,&part,panels,rows,oc,0,tiles,0,pix,0,&po);} }
    else f[v](ISP_AVX2,&I,panels,rows,oc,0,tiles,0,pix,0,&o);
    t=now()-t;sum[v]+=t;}
  int same=memcmp(outs[0],outs[1],(size_t)oc*pix*4)==0;
  double macs=(double)kc*oc*pix*kk;
  printf("%4d(%3d%%)->%4d %3dx%-3d k%d s%d %s sc%-3d: old %5.1f new %5.1f GMAC/s new/old %.3f %s\n",in,keep,oc,S,S,k,st,rowsMode?"rows ":"whole",sc,macs/(sum[0]/rounds)/1e9,macs/(sum[1]/rounds)/1e9,sum[1]/sum[0],same?"identical":"DIFFERENT");
}
