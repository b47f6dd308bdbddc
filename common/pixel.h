/* pixel-v1 rules (SPEC §8, pixel.c): the record behind struct rule. */
#ifndef PIXEL_H
#define PIXEL_H

struct pixel_rule {
	const char	*path;		/* incoming-path, "/a.png" by default */
};

#endif
