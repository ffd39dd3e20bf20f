#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
typedef enum { ISP_AVX2 = 0, ISP_AVX512 = 1 } isp_isa_;
#ifdef OLD
void isp_plane_norms(int isa, const float *x, int32_t planes, int64_t n, float scale, float *norms);
#define CALL(isa,x,p,h,w,s,o) isp_plane_norms(isa,x,p,(int64_t)(h)*(w),s,o)
#else
void isp_plane_norms(int isa, const float *x, int32_t planes, int32_t rows, int32_t width, float scale, float *norms);
#define CALL(isa,x,p,h,w,s,o) isp_plane_norms(isa,x,p,h,w,s,o)
#endif
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){int planes=atoi(argv[1]),h=atoi(argv[2]),w=atoi(argv[3]),isa=atoi(argv[4]);
 float*x=aligned_alloc(64,sizeof(float)*planes*h*w+64),*o=aligned_alloc(64,4*planes+64);
 for(int i=0;i<planes*h*w;i++)x[i]=(float)rand()/RAND_MAX;
 double best=1e9; for(int rep=0;rep<200;rep++){double t=now(); for(int k=0;k<20;k++) CALL(isa,x,planes,h,w,0.1f,o); t=(now()-t)/20; if(t<best)best=t;}
 printf("%d planes %dx%d isa %d: %.2f us\n",planes,h,w,isa,best*1e6);}
