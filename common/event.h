/*
 * The event line of one request (SPEC §13, event.c): what rule answered and
 * how, written as one JSON line by the front end once the answer is sent.
 */
#ifndef EVENT_H
#define EVENT_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "metrics.h"

struct gw_config;
struct gw_request;

/* Event types (SPEC §13). */
enum gw_type {
	GW_T_NONE, GW_T_DOCKER, GW_T_NPM, GW_T_FILE, GW_T_PYTHON, GW_T_PIXEL,
	GW_T_TELEMETRY, GW_T_CATCH_ALL, GW_T_RESERVED, GW_T__COUNT
};
/* struct gw_stats has room for 10 types */
_Static_assert(GW_T__COUNT <= GW_NTYPES, "struct gw_stats counts GW_NTYPES types");
const char *gw_type_name(enum gw_type);

struct gw_event {
	enum gw_type	 type;
	int		 rule_index;	/* -1 = null */
	char		*package_id;	/* owned or NULL */
	char		*rule_id;	/* owned or NULL */
	char		*location;	/* owned or NULL */
	int		 proxied;
	int		 status;
	long long	 bytes;
	long long	 duration_ms;
	char		*error;		/* owned or NULL */
	/* Type-specific fields, already serialised as `,"key":value` runs. */
	struct buf	 extra;
	/* Rules refused on the way (event_warn): `{...}` objects joined by
	 * commas, logged as "warnings" whichever rule answers. */
	struct buf	 warnings;
};

void	 gw_event_init(struct gw_event *);
void	 gw_event_free(struct gw_event *);
void	 event_str(struct gw_event *, const char *key, const char *val);
void	 event_strn(struct gw_event *, const char *key, const char *val,
	    size_t n);
void	 event_raw(struct gw_event *, const char *key, const char *json);
void	 event_bool(struct gw_event *, const char *key, int);
/*
 * Records that rule rule_index was refused for a reason an operator should
 * see (an outgoing-url expansion that would leave its host): the event gets
 * "warnings":[{"rule-index":N,"field":F,"message":M},...], kept whichever
 * rule then answers, the 404 of §11 included.
 */
void	 event_warn(struct gw_event *, int rule_index, const char *field,
	    const char *message);
/* Sets the rule-related common fields (index, package-id, rule-id). */
void	 event_rule(struct gw_event *, int rule_index, const char *package_id,
	    const char *rule_id);
/*
 * Sets what event_format() writes as client-ip, from the configuration;
 * reads hash:FILE's secret or draws a random one.  Call once, before any
 * thread formats an event.  Returns -1 with a static *err.
 */
int	 event_ip_setup(const struct gw_config *, const char **err);
/* The client-ip value as event_format() writes it for a request that
 * started at unix time t, into out (>= 48 bytes). */
void	 event_ip_value(const char *ip, time_t t, char *out, size_t outsz);
/* One JSON line, LF-terminated, appended to out (SPEC §13). */
void	 event_format(const struct gw_event *, const struct gw_request *,
	    struct buf *out);

#endif
