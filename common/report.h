/*
 * Download analytics from the event log (README, "Download analytics"):
 * the `report` command of the FastCGI program and the pieces its tests and
 * fuzz target reach on their own — the event line parser, the one place
 * that decides what counts as a download, the User-Agent classifier and
 * the HyperLogLog counter behind the unique-client figures.
 */
#ifndef REPORT_H
#define REPORT_H

#include "revent.h"

/* scarf-gateway report [options] [LOG...]; argv[0] is "report". */
int		 report_main(int argc, char *argv[]);

#endif
