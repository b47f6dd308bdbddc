/*
 * The reserved endpoints (SPEC §12, handlers.c).  The router calls them
 * through reserved_handle(), declared with it in gateway.h.
 */
#ifndef HANDLERS_H
#define HANDLERS_H

/* 1 when the address ip is inside one of the comma-separated CIDRs. */
int	 cidr_list_contains(const char *list, const char *ip);

#endif
