#include "config.h"
#include "report_int.h"
int
report_write_html(struct report *r, FILE *f)
{
	(void)r; (void)f;
	return 0;
}
