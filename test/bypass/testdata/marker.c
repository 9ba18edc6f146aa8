// marker: the "blocked binary". If it ever runs, it says so.
#include <stdio.h>
int main(void) { puts("BLOCKED-BINARY-RAN"); return 0; }
