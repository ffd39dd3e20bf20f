// 1x1 convolution shapes: engine kernel vs a position-vector kernel (6 out channels x 16 positions)
#include "CKernels.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=((i*7919)%13)*0.01f-0.06f;return p;}
void var_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out);
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
#define G 6
// wp: [otile][C][6]; x: [C][P]; out [O][P]; positions [p, p+16) ; channels [c0,c1)
__attribute__((target("avx2,fma"))) static inline void blk(const float *wp, const float *x, int P, int c0, int c1, int p, float *out, int o, int g, const float *bias, int first, int last, float lo, float hi) {
  __m256 a[G][2];
  for (int j=0;j<G;j++){ if(first){a[j][0]=a[j][1]=_mm256_setzero_ps();} else {int jj=j<g?j:0; a[j][0]=_mm256_loadu_ps(out+(size_t)(o+jj)*P+p); a[j][1]=_mm256_loadu_ps(out+(size_t)(o+jj)*P+p+8);} }
  const float *xc = x + (size_t)c0*P + p; const float *w = wp + (size_t)c0*G;
  for (int c=c0;c<c1;c++, xc+=P, w+=G) {
    __m256 x0=_mm256_loadu_ps(xc), x1=_mm256_loadu_ps(xc+8);
    for (int j=0;j<G;j++){ __m256 b=_mm256_broadcast_ss(w+j); a[j][0]=_mm256_fmadd_ps(b,x0,a[j][0]); a[j][1]=_mm256_fmadd_ps(b,x1,a[j][1]); }
  }
  __m256 L=_mm256_set1_ps(lo),H=_mm256_set1_ps(hi);
  for (int j=0;j<g;j++){ __m256 v0=a[j][0],v1=a[j][1]; if(last){__m256 bb=_mm256_set1_ps(bias[o+j]); v0=_mm256_min_ps(_mm256_max_ps(v0+bb,L),H); v1=_mm256_min_ps(_mm256_max_ps(v1+bb,L),H);}
    _mm256_storeu_ps(out+(size_t)(o+j)*P+p,v0); _mm256_storeu_ps(out+(size_t)(o+j)*P+p+8,v1);}
}
__attribute__((target("avx2,fma"))) static void posvec(const float *wp, const float *x, int C, int O, int P, float *out, const float *bias, int KC, int order) {
  int tiles=(O+G-1)/G;
  if (order==0) { // positions outer, chunks, tiles inner
    for (int p0=0;p0<P;p0+=16){ int p=p0+16<=P?p0:P-16;
      for (int c0=0;c0<C;c0+=KC){ int c1=c0+KC<C?c0+KC:C;
        for (int t=0;t<tiles;t++){int o=t*G,g=O-o<G?O-o:G; blk(wp+(size_t)t*C*G,x,P,c0,c1,p,out,o,g,bias,c0==0,c1==C,0,1e30f);} } }
  } else { // tiles outer, positions inner (no chunks)
    for (int t=0;t<tiles;t++){int o=t*G,g=O-o<G?O-o:G;
      for (int p0=0;p0<P;p0+=16){ int p=p0+16<=P?p0:P-16; blk(wp+(size_t)t*C*G,x,P,0,C,p,out,o,g,bias,1,1,0,1e30f);} }
  }
}
int main(int argc,char**argv){
  int C=atoi(argv[1]),O=atoi(argv[2]),P=atoi(argv[3]),rounds=atoi(argv[4]),KC=argc>5?atoi(argv[5]):C;
  int tiles=(O+15)/16; float*panels=filled((size_t)tiles*C*16),*x=filled((size_t)C*P+64),*bias=filled(O);
  float*o1=filled((size_t)O*P+64),*o2=filled((size_t)O*P+64),*o3=filled((size_t)O*P+64);
  int gt=(O+G-1)/G; float*wp=calloc((size_t)gt*C*G,4);
  for(int o=0;o<O;o++)for(int c=0;c<C;c++) wp[((size_t)(o/G)*C+c)*G+o%G]=panels[((size_t)(o/16)*C+c)*16+o%16];
  int32_t*xo=malloc(4*C),*wc=malloc(4*C),zero=0; for(int i=0;i<C;i++){xo[i]=i*P;wc[i]=i;}
  isp_conv_input I={x,xo,wc,C,&zero,1,1,0};
  double t[3][400];
  for(int r=0;r<rounds;r++)for(int v=0;v<3;v++){
    isp_conv_output o={o1,P,bias,0,1e30f,NULL};
    double t0=now();
    if(v==0) isp_conv_tiles(ISP_AVX2,&I,panels,C,O,0,tiles,0,P,0,&o);
    else if(v==1){isp_conv_output o2o={o2,P,bias,0,1e30f,NULL}; var_conv_tiles(ISP_AVX2,&I,panels,C,O,0,tiles,0,P,0,&o2o);} else posvec(wp,x,C,O,P,o3,bias,KC,0);
    t[v][r]=now()-t0;}
  double md=0; for(size_t i=0;i<(size_t)O*P;i++){double d=fabs(o1[i]-o2[i])+fabs(o1[i]-o3[i]); if(d>md)md=d;}
  for(int v=0;v<3;v++)qsort(t[v],rounds,sizeof(double),cmpd);
  double macs=(double)C*O*P;
  printf("%4d->%4d P %5d KC %4d: engine %5.1f variant %5.1f posvec %5.1f GMAC/s medians; maxdiff %.2g\n",C,O,P,KC,
    macs/t[0][rounds/2]/1e9,macs/t[1][rounds/2]/1e9,macs/t[2][rounds/2]/1e9,md);
}
