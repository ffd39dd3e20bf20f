// 3x3 convolution from bordered planes row by row (as the engine runs 8x8 maps): ConvTiles.c as
// built (head), the same source renamed (same: A/A, placement), and without weight prefetching (nopf).
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <math.h>
#define DECL(p) void p##_isp_conv_tiles(isp_isa, const isp_conv_input*, const float*, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, const isp_conv_output*);
DECL(same) DECL(nopf)
typedef void (*conv_fn)(isp_isa, const isp_conv_input*, const float*, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, const isp_conv_output*);
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=((i*7919)%13)*0.01f-0.06f;return p;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int C=atoi(argv[1]),O=atoi(argv[2]),H=atoi(argv[3]),rounds=atoi(argv[4]),K=argc>5?atoi(argv[5]):3;
  int W=H,wp=K==3?W+2:W,pp=K==3?(H+2)*wp:H*W,rows=C*K*K,tiles=(O+15)/16;
  float*x=filled((size_t)C*pp),*pan=filled((size_t)tiles*rows*16),*bias=filled(O);
  for(int c=0;c<C;c++)for(int i=0;i<pp;i++){int y=i/wp,xx=i%wp; if(K==3&&(y==0||y==H+1||xx==0||xx==W+1))x[c*pp+i]=0;}
  conv_fn f[3]={isp_conv_tiles,same_isp_conv_tiles,nopf_isp_conv_tiles}; const char*name[3]={"head","same","nopf"};
  float*o[3]; for(int v=0;v<3;v++)o[v]=filled((size_t)O*H*W+64);
  int32_t*xo=malloc(4*C),*wc=malloc(4*C),to[9]; for(int i=0;i<C;i++){xo[i]=i*pp;wc[i]=i;} for(int t=0;t<9;t++)to[t]=(t/3)*wp+t%3;
  if(K==1)to[0]=0;
  isp_conv_input I={x,xo,wc,C,to,K*K,1,0};
  static double t[3][4000]; int cold=getenv("COLD")!=0; size_t fn=(size_t)atoi(getenv("COLD")?getenv("COLD"):"0")<<18; float*flush=cold?filled(fn):0; volatile float fs=0;
  for(int r=0;r<rounds;r++)for(int v0=0;v0<3;v0++){int v=(v0+r)%3;
    isp_conv_output out={o[v],H*W,bias,0,1e30f,NULL};
    if(cold){float a=0; for(size_t i=0;i<fn;i+=16)a+=flush[i]; fs+=a;}
    double t0=now();
    if(K==1) f[v](ISP_AVX2,&I,pan,rows,O,0,tiles,0,H*W,0,&out);
    else for(int y=0;y<H;y++){int q=y*wp; f[v](ISP_AVX2,&I,pan,rows,O,0,tiles,q,q+W,y*W-q,&out);}
    t[v][r]=now()-t0;}
  double md=0; for(size_t i=0;i<(size_t)O*H*W;i++){double d=fabs(o[0][i]-o[1][i])+fabs(o[0][i]-o[2][i]); if(d>md)md=d;}
  for(int v=0;v<3;v++)qsort(t[v],rounds,sizeof(double),cmpd);
  printf("%dx%d %d->%d %dx%d: time / head's (medians of %d): same %.3f, nopf %.3f; head %.1f us; maxdiff %.2g\n",K,K,C,O,H,W,rounds,t[1][rounds/2]/t[0][rounds/2],t[2][rounds/2]/t[0][rounds/2],t[0][rounds/2]*1e6,md);
}
