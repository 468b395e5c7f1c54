/* SPDX-License-Identifier: MIT */
/* attn_bench: times ocla_attention_forward (development aid; ocla-bench is the benchmark of record).
 *   attn_bench <device> B T H D gate(0 none,1 scalar,2 vector,3 fixed) [chunk] [form 0/1] [reps]
 * Prints the median-free best of reps (device time from profiling events) and GFLOP/s counted as
 * B*H*T*(4*C*D + 4*D^2) (PERFORMANCE.md's count, C = the chunk used or 64). */
#include "ocla/ocla.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc,char**argv){
  if(argc<7){fprintf(stderr,"usage: attn_bench <device> B T H D gate [chunk] [form] [reps]\n");return 2;}
  const char*dev=argv[1]; int B=atoi(argv[2]),T=atoi(argv[3]),H=atoi(argv[4]),D=atoi(argv[5]); int gate=atoi(argv[6]); int C=argc>7?atoi(argv[7]):0; int form=argc>8?atoi(argv[8]):0;
  ocla_context_options o; ocla_context_options_defaults(&o); o.device=dev; o.profiling=1; ocla_context*ctx;
  if(ocla_context_create(&o,&ctx)) {printf("ctx %s\n",ocla_last_error(NULL));return 1;}
  int64_t dq[4]={B,T,H,D}, dg[3]={B,T,H};
  ocla_tensor *q,*k,*v,*out,*g=NULL; ocla_tensor_create(ctx,OCLA_F32,4,dq,&q);ocla_tensor_create(ctx,OCLA_F32,4,dq,&k);ocla_tensor_create(ctx,OCLA_F32,4,dq,&v);ocla_tensor_create(ctx,OCLA_F32,4,dq,&out);
  ocla_tensor_fill(ctx,q,0.1f);ocla_tensor_fill(ctx,k,0.1f);ocla_tensor_fill(ctx,v,1.0f);
  ocla_attn_params p; ocla_attn_params_defaults(&p); p.chunk=C; p.gate=(ocla_gate_kind)gate; p.form=(ocla_attn_form)form;
  if(gate==1){ocla_tensor_create(ctx,OCLA_F32,3,dg,&g);ocla_tensor_fill(ctx,g,-0.1f);} if(gate==2){ocla_tensor_create(ctx,OCLA_F32,4,dq,&g);ocla_tensor_fill(ctx,g,-0.1f);}
  ocla_attn_io io; memset(&io,0,sizeof io); io.q=q;io.k=k;io.v=v;io.o=out;io.g=g;
  ocla_status st=ocla_attention_forward(ctx,&p,&io); ocla_finish(ctx); if(st){printf("st %d %s\n",st,ocla_last_error(ctx));return 1;}
  int reps=argc>9?atoi(argv[9]):5; double best=1e30; char det[512]="";
  for(int r=0;r<reps;r++){ ocla_profile_begin(ctx); ocla_attention_forward(ctx,&p,&io); double ms; int nk; ocla_profile_end(ctx,&ms,&nk); if(ms<best){best=ms; ocla_profile_detail(ctx,det,sizeof det);} }
  int Cc = C?C:64;   double fl2 = (double)B*H*T*(4.0*Cc*D+4.0*D*D);
  printf("%s (%d,%d,%d,%d) gate %d C %d: %.3f ms, %.1f GFLOP/s (PERFORMANCE.md count 4CD+4D^2) | %s\n",dev,B,T,H,D,gate,C,best,fl2/best/1e6,det);
  return 0;
}
