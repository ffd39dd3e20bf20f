// 3x3 convolution on an 8x8 map from bordered 10x10 planes, as the engine runs it (row by row,
// all tiles per call) and variants, alternating in one process.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=((i*7919)%13)*0.01f-0.06f;return p;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int C=atoi(argv[1]),O=atoi(argv[2]),H=atoi(argv[3]),rounds=atoi(argv[4]),group=argc>5?atoi(argv[5]):2;
  int W=H,wp=W+2,pp=(H+2)*wp,rows=C*9,tiles=(O+15)/16;
  float*x=filled((size_t)C*pp),*pan=filled((size_t)tiles*rows*16),*bias=filled(O);
  for(int c=0;c<C;c++)for(int i=0;i<pp;i++){int y=i/wp,xx=i%wp; if(y==0||y==H+1||xx==0||xx==W+1)x[c*pp+i]=0;}
  float*o[3]; for(int v=0;v<3;v++)o[v]=filled((size_t)O*H*W+64); float*big=filled((size_t)O*H*wp+64);
  int32_t*xo=malloc(4*C),*wc=malloc(4*C),to[9]; for(int i=0;i<C;i++){xo[i]=i*pp;wc[i]=i;} for(int t=0;t<9;t++)to[t]=(t/3)*wp+t%3;
  isp_conv_input I={x,xo,wc,C,to,9,1,0};
  double t[3][2000];
  for(int r=0;r<rounds;r++)for(int v0=0;v0<3;v0++){int v=(v0+r)%3;
    isp_conv_output out={o[v],H*W,bias,0,1e30f,NULL};
    double t0=now();
    if(v==0){ for(int y=0;y<H;y++){int q=y*wp; isp_conv_tiles(ISP_AVX2,&I,pan,rows,O,0,tiles,q,q+W,y*W-q,&out);} }
    else if(v==1){ for(int g=0;g<tiles;g+=group) for(int y=0;y<H;y++){int q=y*wp; int g1=g+group<tiles?g+group:tiles; isp_conv_tiles(ISP_AVX2,&I,pan,rows,O,g,g1,q,q+W,y*W-q,&out);} }
    else { isp_conv_output o2={big,H*wp,bias,0,1e30f,NULL}; isp_conv_tiles(ISP_AVX2,&I,pan,rows,O,0,tiles,0,(H-1)*wp+W,0,&o2); }
    t[v][r]=now()-t0;}
  double md=0; for(size_t i=0;i<(size_t)O*H*W;i++){int oo=i/(H*W),pp2=i%(H*W); double d=fabs(o[0][i]-o[1][i])+fabs(o[0][i]-big[(size_t)oo*H*wp+pp2/W*wp+pp2%W]); if(d>md)md=d;}
  for(int v=0;v<3;v++)qsort(t[v],rounds,sizeof(double),cmpd);
  double macs=(double)C*O*9*H*W;
  printf("%d->%d %dx%d: engine %.1f, tile groups of %d %.1f, whole grid %.1f GMAC/s (medians); maxdiff %.2g\n",C,O,H,W,macs/t[0][rounds/2]/1e9,group,macs/t[1][rounds/2]/1e9,macs/t[2][rounds/2]/1e9,md);
}
