#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=((i*7919)%13)*0.01f-0.06f;return p;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
// IN OUT S(input size) STRIDE ROUNDS: 3x3 pad 1; padded rows (current) vs packed by blocks (unroll + kernel)
int main(int argc,char**argv){
  int in=atoi(argv[1]),oc=atoi(argv[2]),S=atoi(argv[3]),st=atoi(argv[4]),rounds=atoi(argv[5]);
  int kk=9,tiles=(oc+15)/16,rows=in*kk,os=(S+2-3)/st+1,pix=os*os,wp=S+2,bp=(S+2)*wp,B=isp_conv_packed_block(ISP_AVX2),blocks=(pix+B-1)/B;
  float*panels=filled((size_t)tiles*rows*16),*x=filled((size_t)in*S*S),*bord=calloc((size_t)in*bp+64,4),*outs[2],*bias=filled(oc);
  outs[0]=filled((size_t)oc*pix+64);outs[1]=filled((size_t)oc*pix+64);
  for(int i=0;i<in;i++)for(int y=0;y<S;y++)for(int xx=0;xx<S;xx++)bord[i*bp+(y+1)*wp+xx+1]=x[i*S*S+y*S+xx];
  int32_t*xo=malloc(4*in),*wc=malloc(4*in),*po=malloc(4*in),taps[9],ptaps[9],*gather=malloc(4*kk*pix);
  for(int i=0;i<in;i++){xo[i]=i*bp;wc[i]=i;po[i]=i*kk*B;}
  for(int t=0;t<kk;t++){taps[t]=(t/3)*wp+t%3;ptaps[t]=t*B;}
  for(int t=0;t<kk;t++)for(int j=0;j<pix;j++){int y=(j/os)*st+t/3-1,xx=(j%os)*st+t%3-1; gather[t*pix+j]=y>=0&&y<S&&xx>=0&&xx<S?y*S+xx:-1;}
  size_t pitch=(size_t)in*kk*B; float*packed=calloc(blocks*pitch+64,4);
  isp_conv_input R={bord,xo,wc,in,taps,kk,st,0}, P={packed,po,wc,in,ptaps,kk,1,(int32_t)pitch};
  double t[3][400];
  for(int r=0;r<rounds;r++)for(int v=0;v<2;v++){
    isp_conv_output o={outs[v],pix,bias,0,1e30f,NULL};
    double t0=now(),t1=0;
    if(v==0){ for(int y=0;y<os;y++)isp_conv_tiles(ISP_AVX2,&R,panels,rows,oc,0,tiles,y*wp,y*wp+os,y*os-y*wp,&o);}
    else { for(int i=0;i<in;i++) isp_unroll_plane(ISP_AVX2,x+i*S*S,S*S,gather,kk,pix,B,B,pitch,packed+i*kk*B); t1=now();
           isp_conv_tiles(ISP_AVX2,&P,panels,rows,oc,0,tiles,0,pix,0,&o); t[2][r]=now()-t1+1e-12; t[2][r]=(t1-t0); }
    t[v][r]=now()-t0;}
  int same=memcmp(outs[0],outs[1],(size_t)oc*pix*4)==0;
  for(int v=0;v<3;v++)qsort(t[v],rounds,sizeof(double),cmpd);
  printf("%4d->%4d %dx%d s%d: rows %.3f ms, packed %.3f ms (of which unroll %.3f) packed/rows %.3f %s\n",in,oc,S,S,st,
    t[0][rounds/2]*1e3,t[1][rounds/2]*1e3,t[2][rounds/2]*1e3,t[1][rounds/2]/t[0][rounds/2],same?"identical":"DIFFERENT");
}
