// in-process A/B of input layouts for a 3x3 conv, stride 1, on an SxS map: unrolled (chunked), bordered rows, bordered straight through
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *filled(size_t n){float*p=aligned_alloc(64,(n*4+63)/64*64);for(size_t i=0;i<n;i++)p[i]=(i%7)*0.01f;return p;}
int main(int argc,char**argv){
  int in=atoi(argv[1]),oc=atoi(argv[2]),S=atoi(argv[3]),rounds=atoi(argv[4]),chunk=atoi(argv[5]),copies=argc>6?atoi(argv[6]):1;
  int tiles=(oc+15)/16,rows=in*9,pix=S*S,pitch=S+2,pplane=(S+2)*pitch,grid=(S-1)*pitch+S;
  float*panels=filled((size_t)tiles*rows*16*copies),*un=filled((size_t)in*9*pix+64),*bo=filled((size_t)in*pplane+64),*out=filled((size_t)oc*pitch*S+64),*bias=filled(oc),*zero=calloc(oc,4);
  int32_t*xo=malloc(4*in),*xo2=malloc(4*in),*wc=malloc(4*in),tu[9],tb[9];
  for(int i=0;i<in;i++){xo[i]=i*9*pix;xo2[i]=i*pplane;wc[i]=i;}
  for(int t=0;t<9;t++){tu[t]=t*pix;tb[t]=(t/3)*pitch+t%3;}
  isp_conv_input U={un,xo,wc,in,tu,9,1},B={bo,xo2,wc,in,tb,9,1};
  isp_isa isa=ISP_AVX2;
  double best[4]={1e9,1e9,1e9,1e9}, sum[4]={0};
  for(int r=0;r<rounds;r++){
    for(int v=0;v<4;v++){
      const float*w=panels+(size_t)(r%copies)*tiles*rows*16;
      double t=now();
      if(v==0){isp_conv_output o={out,pix,bias,-1e30f,1e30f,NULL};isp_conv_tiles(isa,&U,w,rows,oc,0,tiles,0,pix,0,&o);}
      else if(v==1){for(int f=0;f<in;f+=chunk){isp_conv_input p=U;p.xOffset+=f;p.weightChannel+=f;p.channels=in-f<chunk?in-f:chunk;isp_conv_output o={out,pix,f?zero:bias,-1e30f,1e30f,f?out:NULL};isp_conv_tiles(isa,&p,w,rows,oc,0,tiles,0,pix,0,&o);}}
      else if(v==2){isp_conv_output o={out,pix,bias,-1e30f,1e30f,NULL};for(int y=0;y<S;y++)isp_conv_tiles(isa,&B,w,rows,oc,0,tiles,y*pitch,y*pitch+S,y*(S-pitch),&o);}
      else {isp_conv_output o={out,grid,bias,-1e30f,1e30f,NULL};isp_conv_tiles(isa,&B,w,rows,oc,0,tiles,0,grid,0,&o);}
      t=now()-t; if(t<best[v])best[v]=t; sum[v]+=t;
    }
  }
  const char*names[4]={"unrolled","unrolled chunked","bordered rows","bordered straight"};
  double macs=(double)in*oc*pix*9;
  for(int v=0;v<4;v++)printf("%-18s best %.1f GMAC/s mean %.1f\n",names[v],macs/best[v]/1e9,macs/(sum[v]/rounds)/1e9);
}
