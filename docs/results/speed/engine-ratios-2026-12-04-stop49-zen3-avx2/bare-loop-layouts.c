#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
void var_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out);
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef float v16 __attribute__((vector_size(64), aligned(4)));
__attribute__((target("avx2,fma"),noinline)) void block(const float *w, const float *x, const int *off, int rows, float *out){
  v16 acc[6]={0};
  for(int r=0;r<rows;r++){ const float *xt=x+off[r]; v16 w0=*(const v16*)(w+r*16);
    for(int p=0;p<6;p++) acc[p]+=w0*xt[p]; }
  for(int p=0;p<6;p++) *(v16*)(out+16*p)=acc[p];
}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int C=512,T=9,B=9,tiles=32,rows=C*T,chunk=144,R=atoi(argv[1]);
  float *w=aligned_alloc(64,(size_t)tiles*rows*64), *x=aligned_alloc(64,(size_t)C*T*64*4), out[96];
  float *o=aligned_alloc(64,512*49*4), *bias=calloc(512,4);
  int *off[3]; for(int m=0;m<3;m++) off[m]=malloc(sizeof(int)*rows*B);
  for(size_t i=0;i<(size_t)tiles*rows*16;i++) w[i]=0.001f*(i%7);
  for(size_t i=0;i<(size_t)C*T*64;i++) x[i]=0.01f*(i%5);
  for(int m=0;m<3;m++) for(int b=0;b<B;b++) for(int r=0;r<rows;r++){int i=r/T,t=r%T;
    off[m][b*rows+r]= m==0 ? i*441+t*49+b*6 : m==1 ? i*(B*T*6)+b*T*6+t*6 : b*C*T*6+i*T*6+t*6;}
  int32_t xo[512],wc[512],taps[9]; for(int i=0;i<512;i++){xo[i]=i*441;wc[i]=i;} for(int t=0;t<9;t++)taps[t]=t*49;
  isp_conv_input In={x,xo,wc,512,taps,9,1};
  isp_conv_output O={o,49,bias,0,1e30f,NULL};
  double t[5][64];
  for(int r=0;r<R;r++) for(int v=0;v<5;v++){ double t0=now();
    if(v==4) cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,512,49,4608,1,w,4608,x,49,0,o,49); else
    if(v==3) var_conv_tiles(ISP_AVX2,&In,w,rows,512,0,32,0,49,0,&O);
    else for(int tile=0;tile<tiles;tile++) for(int c=0;c<rows;c+=chunk) for(int b=0;b<B;b++)
      block(w+(size_t)tile*rows*16+(size_t)c*16,x,off[v]+b*rows+c,chunk,out);
    t[v][r]=now()-t0; }
  const char*nm[5]={"sim unrolled","sim chan-major packed","sim block-major packed","engine unrolled","openblas sgemm"};
  for(int v=0;v<5;v++){qsort(t[v],R,sizeof(double),cmpd); double macs=(v>=3?49.0:54.0)*512*rows;
    printf("%-24s median %.2f ms %.1f GMAC/s (min %.2f)\n",nm[v],t[v][R/2]*1e3,macs/t[v][R/2]*1e-9,t[v][0]*1e3);}
}
