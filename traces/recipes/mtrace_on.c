#include <mcheck.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void on(void){
  const char *p = getenv("MTRACE_PREFIX");
  if (p) { char b[512]; snprintf(b, sizeof b, "%s.%d", p, (int)getpid()); setenv("MALLOC_TRACE", b, 1); }
  mtrace();
}
