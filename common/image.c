/*
 * The compiled manifest image (README, "Compiled manifest image").
 *
 * Layout.  All integers are native 32- or 64-bit words (the build
 * identity pins the byte order); every reference is an offset.
 *
 *	struct img_hdr		magic, version, build identity, source
 *				digest, total length, checksum, counts and
 *				the offsets of the three sections below
 *	struct img_set[nsets]	the host index: one entry per domain
 *				("host" or "*.suffix"), sorted by strcmp, as
 *				manifest_lookup() searches it (SPEC §2.2)
 *	uint32_t[nwords]	rule records, each set's contiguous and in
 *				precedence order (§2.5), then the UA list
 *	char[nstr]		interned NUL-terminated strings; offset 0
 *				is "", and the last byte is NUL, so that any
 *				offset inside the table is a terminated
 *				string inside the table
 *	uint64_t[nchunks]	(8-aligned) the checksum of each IMG_CHUNK
 *				bytes from the end of the header to here
 *
 * A rule record: type, manifest index, length in words, domain,
 * package-id, then its type's fields (its save and load operations,
 * ruletype.h).  The index data of a set: for each type present with an
 * index_save operation, in precedence order, what it wrote (ruletype.h:
 * what spares a process building the index, such as rendered pages).
 * The UA list: count, then kind, string, min, below for each.
 *
 * Trust.  The header's checksum covers the header and the chunk
 * checksums.  image_open() checks everything before anything is used:
 * the header, every chunk, the bounds of every section, the order of the
 * host index, and every record of every set decoded once (its strings
 * in the table, its numbers in range).  image_open_lazy() checks the
 * header, the chunk table and the sections' bounds, then each chunk when
 * something in it is first read (img_need()) and each set's records when
 * the set is made; a failed check marks the image damaged.  The checksum
 * is not cryptographic: it catches a torn or damaged file; the cache's
 * owner and mode checks keep out files somebody else wrote.
 * Measured cost: README.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "gateway.h"
#include "image.h"
#include "image_int.h"
#include "manifest.h"
#include "ruletype.h"
#include "sha256.h"
#include "ua.h"
#include "util.h"
#include "xmalloc.h"


/* The most rule types an image may have (image_compile(), image_open()). */
#define RULE_TYPES_MAX	32
/* The cache keeps at most this many images (the newest). */
#define IMG_CACHE_MAX	16
/* and this many index files */
#define IDX_CACHE_MAX	64

/*
 * A loaded image: what backing_data of its manifest points to.  Opened
 * completely (image_open()), every chunk was checked at open; opened
 * lazily (image_open_lazy(), the CGI program: one request reads little
 * of a large image), a chunk is checked when something in it is first
 * read, and a host whose types can answer from their index data alone
 * gets a partial rule set (struct ruleset, partial) made of that data.
 */
struct image {
	void			*base;
	size_t			 len;
	int			 mapped;
	int			 lazy;
	const struct img_set	*sets;
	uint32_t		 nsets;
	const uint32_t		*words;
	uint32_t		 nwords;
	const char		*str;
	uint32_t		 nstr;
	size_t			 data_end;	/* chunks_off */
	const uint64_t		*chunks;	/* nchunks checksums */
	size_t			 nchunks;
	_Atomic unsigned char	*ok;		/* nchunks: 1 checked */
	atomic_int		*damaged;	/* a check failed (lazy) */
	_Atomic(struct img_ruleset *) *made;	/* nsets slots */
	_Atomic(struct img_ruleset *) *whole;	/* lazy: for partial sets */
	struct ua_list		 uas;
	/* where the cache mapped it from (image_discard()), and the file
	 * kept open when lazy (image_bytes_file()), else -1 */
	char			*path;
	int			 fd;
	dev_t			 dev;
	ino_t			 ino;
};

/* A materialised rule set; set first, so a ruleset pointer is one. */
struct img_ruleset {
	struct ruleset	 set;
	uint32_t	 at;		/* its host index entry */
	struct rule	*rules;
	size_t		 nrules;
	struct arena	 arena;		/* its records */
};

/* ------------------------------------------------------------------ */
/* Build identity and checksum						*/
/* ------------------------------------------------------------------ */

struct note_find {
	unsigned char	 id[64];
	size_t		 n;
};

/* The GNU build-id note of the main program (ld --build-id). */
static int
note_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct note_find	*nf = arg;
	const ElfW(Nhdr)	*nh;
	const char		*p, *end;
	int			 i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type != PT_NOTE)
			continue;
		p = (const char *)(info->dlpi_addr +
		    info->dlpi_phdr[i].p_vaddr);
		end = p + info->dlpi_phdr[i].p_memsz;
		while (p + sizeof(*nh) <= end) {
			nh = (const ElfW(Nhdr) *)(const void *)p;
			p += sizeof(*nh);
			if (nh->n_type == NT_GNU_BUILD_ID &&
			    nh->n_namesz == 4 && memcmp(p, "GNU", 4) == 0 &&
			    nh->n_descsz > 0 &&
			    nh->n_descsz <= sizeof(nf->id)) {
				memcpy(nf->id, p + 4, nh->n_descsz);
				nf->n = nh->n_descsz;
				return 1;
			}
			p += (nh->n_namesz + 3) & ~3U;
			p += (nh->n_descsz + 3) & ~3U;
		}
	}
	return 1;		/* the first object is the program */
}

/*
 * SHA-256 of the version, the image format, the word size and byte
 * order, and the program's build-id (another compile of any file is
 * another program); without a build-id, the compiler and the time this
 * file was compiled.  Computed once; not thread-safe before the first
 * load (the front ends load on their main thread first).
 */
const unsigned char *
image_build_id(void)
{
	static unsigned char	 id[32];
	static int		 done;
	struct note_find	 nf;
	struct sha256		 c;
	const uint32_t		 one = 1;

	if (done)
		return id;
	memset(&nf, 0, sizeof(nf));
	dl_iterate_phdr(note_cb, &nf);
	sha256_init(&c);
	sha256_update(&c, gw_version, strlen(gw_version) + 1);
	sha256_update(&c, "image " , 6);
	sha256_update(&c, &(uint32_t){ IMAGE_VERSION }, 4);
	sha256_update(&c, &(uint32_t){ (uint32_t)sizeof(void *) }, 4);
	sha256_update(&c, &one, 1);
	if (nf.n > 0)
		sha256_update(&c, nf.id, nf.n);
	else
		sha256_update(&c, __VERSION__ " " __DATE__ " " __TIME__,
		    sizeof(__VERSION__ " " __DATE__ " " __TIME__));
	sha256_final(&c, id);
	done = 1;
	return id;
}

#define P1	0x9e3779b185ebca87ULL
#define P2	0xc2b2ae3d27d4eb4fULL
#define P3	0x165667b19e3779f9ULL

static uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
	return rotl(h ^ (v * P2), 31) * P1;
}

/* Two lanes of 64-bit words, which GCC and Clang map onto SSE2 (and any
 * other target's vector unit, or plain registers). */
typedef uint64_t cks_v2 __attribute__((vector_size(16)));

/*
 * A 64-bit checksum: Fletcher's two running sums (RFC 1146) over 64-bit
 * words in four lanes, so that a flipped, zeroed or moved word changes
 * it, then mixed.  Additions only, vectorised: about 20 GB/s, several
 * times faster than a multiplying hash, for a CGI request that checks a
 * 900 KB page (README, "Compiled manifest image").  Not cryptographic:
 * it catches a torn or damaged file, the trust checks do the rest.
 */
static uint64_t
cks_update(uint64_t seed, const unsigned char *p, size_t n)
{
	cks_v2		 a0 = { seed + P1, seed + P2 }, a1 = { seed, seed - P1 };
	cks_v2		 b0 = { 0, 0 }, b1 = { 0, 0 }, w0, w1;
	uint64_t	 h = seed ^ (n * P3), w;
	size_t		 len = n;

	for (; n >= 32; p += 32, n -= 32) {
		memcpy(&w0, p, 16);
		memcpy(&w1, p + 16, 16);
		a0 += w0;
		a1 += w1;
		b0 += a0;
		b1 += a1;
	}
	if (len >= 32) {
		h = mix(h, a0[0]);
		h = mix(h, a0[1]);
		h = mix(h, a1[0]);
		h = mix(h, a1[1]);
		h = mix(h, b0[0]);
		h = mix(h, b0[1]);
		h = mix(h, b1[0]);
		h = mix(h, b1[1]);
	}
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = mix(h, w) + P3;
	}
	for (; n > 0; p++, n--)
		h = rotl(h ^ (*p * P1), 11) * P2;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

/*
 * The header's checksum: the header but its checksum field, then the
 * chunk checksums (h->chunks_off, inside len).  Each chunk of the bytes
 * between has its own (chunk_checksum()), checked when first read.
 */
static uint64_t
img_checksum(const unsigned char *p, size_t len)
{
	size_t		 at = offsetof(struct img_hdr, checksum);
	struct img_hdr	 h;
	uint64_t	 c;

	memcpy(&h, p, sizeof(h));
	c = cks_update(cks_update(0, p, at), p + at + 8, sizeof(h) - at - 8);
	if (h.chunks_off >= sizeof(h) && h.chunks_off <= len &&
	    h.nchunks <= (len - h.chunks_off) / 8)
		c = cks_update(c, p + h.chunks_off, (size_t)h.nchunks * 8);
	return c;
}

/* The checksum of chunk k of the data [sizeof(hdr), end). */
static uint64_t
chunk_checksum(const unsigned char *p, size_t end, size_t k)
{
	size_t	 at = sizeof(struct img_hdr) + k * IMG_CHUNK;

	return cks_update(k, p + at, end - at < IMG_CHUNK ? end - at :
	    IMG_CHUNK);
}

/* The number of chunks of data ending at end. */
static size_t
chunk_count(size_t end)
{
	return (end - sizeof(struct img_hdr) + IMG_CHUNK - 1) / IMG_CHUNK;
}

void
image_source(const char *name, const char *text, size_t len,
    unsigned char out[32])
{
	struct sha256	 c;

	sha256_init(&c);
	sha256_update(&c, name, strlen(name) + 1);
	sha256_update(&c, text, len);
	sha256_final(&c, out);
}

void
image_seal(void *p, size_t len)
{
	struct img_hdr	 h;
	uint64_t	 c, k;
	size_t		 i;

	if (len < sizeof(struct img_hdr))
		return;
	memcpy((char *)p + offsetof(struct img_hdr, build), image_build_id(),
	    32);
	memcpy(&h, p, sizeof(h));
	if (h.chunks_off >= sizeof(h) && h.chunks_off <= len &&
	    h.nchunks == chunk_count(h.chunks_off) &&
	    h.nchunks <= (len - h.chunks_off) / 8)
		for (i = 0; i < h.nchunks; i++) {
			k = chunk_checksum(p, h.chunks_off, i);
			memcpy((char *)p + h.chunks_off + i * 8, &k, 8);
		}
	c = img_checksum(p, len);
	memcpy((char *)p + offsetof(struct img_hdr, checksum), &c, 8);
}

/* ------------------------------------------------------------------ */
/* Writing								*/
/* ------------------------------------------------------------------ */

struct img_writer {
	uint32_t	*w;
	size_t		 nw, cap;
	struct buf	 str;
	uint32_t	*tab;		/* interned offsets, IMG_NONE empty */
	size_t		 tabn;		/* a power of 2 */
	size_t		 ntab;
	int		 over;		/* > 4 GiB */
};

void
iw_word(struct img_writer *w, uint32_t v)
{
	if (w->nw == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 4096;
		w->w = xreallocarray(w->w, w->cap, sizeof(*w->w));
	}
	w->w[w->nw++] = v;
}

static uint64_t
str_hash(const char *s, size_t n)
{
	uint64_t	 h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void
tab_grow(struct img_writer *w)
{
	uint32_t	*old = w->tab;
	size_t		 oldn = w->tabn, i, j;
	const char	*s;

	w->tabn = oldn ? oldn * 2 : 1024;
	w->tab = xreallocarray(NULL, w->tabn, sizeof(*w->tab));
	memset(w->tab, 0xff, w->tabn * sizeof(*w->tab));
	for (i = 0; i < oldn; i++) {
		if (old[i] == IMG_NONE)
			continue;
		s = w->str.p + old[i];
		j = str_hash(s, strlen(s)) & (w->tabn - 1);
		while (w->tab[j] != IMG_NONE)
			j = (j + 1) & (w->tabn - 1);
		w->tab[j] = old[i];
	}
	free(old);
}

/* The offset of s in the string table, added once. */
static uint32_t
iw_strref(struct img_writer *w, const char *s)
{
	size_t	 n, j, off;

	if (s == NULL)
		return IMG_NONE;
	if (*s == '\0')
		return 0;
	if ((w->ntab + 1) * 2 > w->tabn)
		tab_grow(w);
	n = strlen(s);
	j = str_hash(s, n) & (w->tabn - 1);
	for (; w->tab[j] != IMG_NONE; j = (j + 1) & (w->tabn - 1))
		if (strcmp(w->str.p + w->tab[j], s) == 0)
			return w->tab[j];
	off = w->str.n;
	if (off + n + 1 >= IMG_NONE) {
		w->over = 1;
		return 0;
	}
	buf_add(&w->str, s, n + 1);
	w->tab[j] = (uint32_t)off;
	w->ntab++;
	return (uint32_t)off;
}

void
iw_str(struct img_writer *w, const char *s)
{
	iw_word(w, iw_strref(w, s));
}

void
iw_strv(struct img_writer *w, const char *const *v, size_t n)
{
	size_t	 i;

	iw_word(w, (uint32_t)n);
	for (i = 0; i < n; i++)
		iw_str(w, v[i]);
}

static void
put_uas(struct img_writer *w, const struct ua_list *l)
{
	size_t	 i;

	iw_word(w, (uint32_t)l->n);
	for (i = 0; i < l->n; i++) {
		iw_word(w, (uint32_t)l->v[i].kind);
		iw_str(w, l->v[i].s);
		iw_str(w, l->v[i].min);
		iw_str(w, l->v[i].below);
	}
}

static void	*compile_src(const struct manifest *, const unsigned char *,
		    const char *, size_t, size_t *);

void *
image_compile(const struct manifest *m, const char *name, const char *text,
    size_t len,
    const char *warnings, size_t wlen, size_t *lenp)
{
	unsigned char	 src[32];

	image_source(name, text, len, src);
	return compile_src(m, src, warnings, wlen, lenp);
}

/*
 * image_compile() of a manifest whose image_source() is src: the SHA-256
 * of the text is computed once per load (a third of a cold load's CPU for
 * a 32 MB manifest when it was computed for the name, the compile and the
 * look-up each).
 */
static void *
compile_src(const struct manifest *m, const unsigned char *src,
    const char *warnings, size_t wlen, size_t *lenp)
{
	struct img_writer	 w;
	struct img_hdr		 h;
	struct img_set		*sets;
	const struct rule	*r;
	const struct rule_span	*sp;
	unsigned char		*out = NULL;
	char			*wz;
	size_t			 i, k, at, total;

	*lenp = 0;
	if (m->backing != NULL || m->nsets > UINT32_MAX / 2)
		return NULL;
	if (rule_ntypes > RULE_TYPES_MAX)
		return NULL;
	for (i = 0; i < rule_ntypes; i++)
		if (rule_types[i]->save == NULL || rule_types[i]->load == NULL)
			return NULL;	/* a type the image cannot hold */
	memset(&w, 0, sizeof(w));
	memset(&h, 0, sizeof(h));
	buf_addc(&w.str, '\0');
	sets = xcalloc(m->nsets ? m->nsets : 1, sizeof(*sets));
	for (i = 0; i < m->nsets; i++) {
		sets[i].domain = iw_strref(&w, m->sets[i].domain);
		sets[i].nrules = (uint32_t)m->sets[i].nrules;
		sets[i].rec = (uint32_t)w.nw;
		for (k = 0; k < m->sets[i].nrules; k++) {
			r = m->sets[i].rules[k];
			at = w.nw;
			iw_word(&w, (uint32_t)r->rank);
			iw_word(&w, (uint32_t)r->index);
			iw_word(&w, 0);
			iw_str(&w, r->domain);
			iw_str(&w, r->package_id);
			r->type->save(&w, r);
			w.w[at + 2] = (uint32_t)(w.nw - at);
		}
		sets[i].nwords = (uint32_t)w.nw - sets[i].rec;
		sets[i].pages = IMG_NONE;
		sets[i].types = 0;
		for (k = 0; k < m->sets[i].nrules; k++)
			sets[i].types |= 1U << m->sets[i].rules[k]->rank;
		for (k = 0; k < m->sets[i].nspans; k++) {
			sp = &m->sets[i].spans[k];
			if (sp->type->index_save == NULL ||
			    sp->type->index_load == NULL)
				continue;
			if (sets[i].pages == IMG_NONE)
				sets[i].pages = (uint32_t)w.nw;
			sp->type->index_save(&w, sp->index);
		}
		sets[i].pwords = sets[i].pages == IMG_NONE ? 0 :
		    (uint32_t)w.nw - sets[i].pages;
	}
	h.uas = IMG_NONE;
	if (m->redirect_uas != NULL) {
		h.uas = (uint32_t)w.nw;
		put_uas(&w, m->redirect_uas);
	}
	h.warnings = IMG_NONE;
	if (wlen > 0) {
		wz = xstrndup(warnings, wlen);
		h.warnings = iw_strref(&w, wz);
		free(wz);
	}
	total = sizeof(h) + m->nsets * sizeof(*sets) + w.nw * 4 + w.str.n;
	total = (total + 7) & ~(size_t)7;
	h.chunks_off = (uint32_t)total;
	h.nchunks = (uint32_t)chunk_count(total);
	total += (size_t)h.nchunks * 8;
	if (w.over || total >= UINT32_MAX || m->nrules > UINT32_MAX)
		goto done;
	memcpy(h.magic, IMG_MAGIC, 8);
	h.version = IMAGE_VERSION;
	h.hdr_len = sizeof(h);
	memcpy(h.build, image_build_id(), 32);
	memcpy(h.source, src, sizeof(h.source));
	h.total_len = total;
	h.npm_cache_ttl = m->npm_cache_ttl;
	h.nrules = (uint32_t)m->nrules;
	h.nsets = (uint32_t)m->nsets;
	h.sets_off = sizeof(h);
	h.words_off = h.sets_off + (uint32_t)(m->nsets * sizeof(*sets));
	h.nwords = (uint32_t)w.nw;
	h.str_off = h.words_off + h.nwords * 4;
	h.nstr = (uint32_t)w.str.n;
	out = xcalloc(1, total);
	memcpy(out, &h, sizeof(h));
	memcpy(out + h.sets_off, sets, m->nsets * sizeof(*sets));
	if (w.nw > 0)
		memcpy(out + h.words_off, w.w, w.nw * 4);
	memcpy(out + h.str_off, w.str.p, w.str.n);
	for (i = 0; i < h.nchunks; i++) {
		uint64_t c = chunk_checksum(out, h.chunks_off, i);

		memcpy(out + h.chunks_off + i * 8, &c, 8);
	}
	h.checksum = img_checksum(out, total);
	memcpy(out + offsetof(struct img_hdr, checksum), &h.checksum, 8);
	*lenp = total;
done:
	free(sets);
	free(w.w);
	free(w.tab);
	buf_free(&w.str);
	return out;
}

/* ------------------------------------------------------------------ */
/* Reading								*/
/* ------------------------------------------------------------------ */

/*
 * Checks the chunks holding bytes [off, off + len) of the image, off
 * past the header and the range before the chunk checksums.  0, or -1
 * (out of range, or a checksum that does not match: the image is then
 * marked damaged).  Thread-safe: two threads may check a chunk at once.
 */
static int
img_need(const struct image *im, size_t off, size_t len)
{
	const unsigned char	*b = im->base;
	size_t			 k, last;

	if (off < sizeof(struct img_hdr) || off > im->data_end ||
	    len > im->data_end - off)
		goto bad;
	if (len == 0)
		return 0;
	k = (off - sizeof(struct img_hdr)) / IMG_CHUNK;
	last = (off + len - 1 - sizeof(struct img_hdr)) / IMG_CHUNK;
	for (; k <= last; k++) {
		if (atomic_load_explicit(&im->ok[k], memory_order_acquire))
			continue;
		if (chunk_checksum(b, im->data_end, k) != im->chunks[k])
			goto bad;
		atomic_store_explicit(&im->ok[k], 1, memory_order_release);
	}
	return 0;
bad:
	atomic_store(im->damaged, 1);
	return -1;
}

/* img_need() of the NUL-terminated string at s (inside the string
 * table, which ends with a NUL). */
static int
img_need_str(const struct image *im, const char *s)
{
	size_t	 off = (size_t)(s - (const char *)im->base), end;

	for (;;) {
		end = sizeof(struct img_hdr) + ((off - sizeof(struct img_hdr))
		    / IMG_CHUNK + 1) * IMG_CHUNK;
		if (end > im->data_end)
			end = im->data_end;
		if (img_need(im, off, end - off) == -1)
			return -1;
		if (memchr((const char *)im->base + off, '\0', end - off) !=
		    NULL)
			return 0;
		off = end;
	}
}

int
image_bytes_file(const struct image *im, const void *p, int *fd,
    long long *off)
{
	if (im == NULL || im->fd == -1)
		return -1;
	*fd = im->fd;
	*off = (long long)((const char *)p - (const char *)im->base);
	return 0;
}

int
image_bytes_ok(const struct image *im, const void *p, size_t n)
{
	if (im == NULL || !im->lazy)
		return 0;
	return img_need(im, (size_t)((const char *)p -
	    (const char *)im->base), n);
}

uint32_t
ir_word(struct img_reader *rd)
{
	if (rd->p >= rd->end) {
		rd->bad = 1;
		return 0;
	}
	return *rd->p++;
}

uint32_t
ir_uint(struct img_reader *rd, uint32_t max)
{
	uint32_t	 v = ir_word(rd);

	if (v > max) {
		rd->bad = 1;
		return 0;
	}
	return v;
}

uint32_t
ir_count(struct img_reader *rd, size_t per)
{
	uint32_t	 n = ir_word(rd);

	if (per > 0 && n > (size_t)(rd->end - rd->p) / per) {
		rd->bad = 1;
		return 0;
	}
	return n;
}

const char *
ir_str(struct img_reader *rd)
{
	uint32_t	 v = ir_word(rd);

	if (v == IMG_NONE)
		return NULL;
	if (v >= rd->nstr || (rd->im != NULL && rd->im->lazy &&
	    img_need_str(rd->im, rd->str + v) == -1)) {
		rd->bad = 1;
		return NULL;
	}
	return rd->str + v;
}

const char *
ir_blob(struct img_reader *rd, size_t *len)
{
	uint32_t	 v = ir_word(rd), n = ir_word(rd);

	*len = 0;
	/* the bytes inside the table, and the NUL after them */
	if (rd->bad || v >= rd->nstr || n >= rd->nstr - v ||
	    rd->str[v + n] != '\0') {
		rd->bad = 1;
		return NULL;
	}
	*len = n;
	return rd->str + v;
}

const char *
ir_str_req(struct img_reader *rd)
{
	const char	*s = ir_str(rd);

	if (s == NULL)
		rd->bad = 1;
	return s;
}

const char **
ir_strv(struct img_reader *rd, size_t *np)
{
	uint32_t	 n = ir_count(rd, 1), i;
	const char	**v;

	*np = 0;
	if (rd->bad || n == 0)
		return NULL;
	v = arena_alloc(rd->arena, n * sizeof(*v));
	for (i = 0; i < n; i++)
		if ((v[i] = ir_str_req(rd)) == NULL)
			return NULL;
	*np = n;
	return v;
}

/*
 * Reads the record at *pos (a word index below end) into r: the common
 * header, then the type's fields through its load operation, strings
 * borrowed, the record from arena.  Advances *pos.  Returns -1 when the
 * record is malformed (r then holds nothing to free).
 */
static int
rec_read(const struct image *im, uint32_t *pos, uint32_t end,
    struct rule *r, struct arena *arena)
{
	struct img_reader	 rd;
	uint32_t		 len;

	memset(r, 0, sizeof(*r));
	if (end - *pos < REC_HDR)
		return -1;
	len = im->words[*pos + 2];
	if (len < REC_HDR || len > end - *pos ||
	    im->words[*pos] >= rule_ntypes || im->words[*pos + 1] > INT32_MAX)
		return -1;
	rd.p = im->words + *pos;
	rd.end = rd.p + len;
	rd.str = im->str;
	rd.nstr = im->nstr;
	rd.bad = 0;
	rd.arena = arena;
	rd.im = im;
	r->rank = ir_word(&rd);
	r->type = rule_types[r->rank];
	r->index = (int)ir_word(&rd);
	(void)ir_word(&rd);
	r->domain = ir_str_req(&rd);
	r->package_id = ir_str(&rd);
	if (!rd.bad)
		r->type->load(&rd, r);
	if (rd.bad || rd.p != rd.end) {
		r->priv = NULL;
		return -1;
	}
	*pos += len;
	return 0;
}

/* A reader of the image's words from word at (< im->nwords) to their
 * end, with no arena. */
static void
reader_at(const struct image *im, uint32_t at, struct img_reader *rd)
{
	rd->p = im->words + at;
	rd->end = im->words + im->nwords;
	rd->str = im->str;
	rd->nstr = im->nstr;
	rd->bad = 0;
	rd->arena = NULL;
	rd->im = im;
}

static int
uas_read(const struct image *im, uint32_t at, struct ua_list *l)
{
	struct img_reader	 rd;
	uint32_t		 n, i;

	memset(l, 0, sizeof(*l));
	if (at >= im->nwords || img_need(im, (size_t)((const char *)
	    (im->words + at) - (const char *)im->base), 4) == -1)
		return -1;
	reader_at(im, at, &rd);
	n = ir_word(&rd);
	if (n > (size_t)(rd.end - rd.p) / 4 || img_need(im, (size_t)
	    ((const char *)rd.p - (const char *)im->base), (size_t)n * 16) ==
	    -1)
		return -1;
	l->v = xcalloc(n ? n : 1, sizeof(*l->v));
	l->n = n;
	/* the strings borrowed from the image: never written nor freed */
	for (i = 0; i < n; i++) {
		l->v[i].kind = (enum ua_kind)ir_uint(&rd, UA_PRODUCT);
		l->v[i].s = (char *)(uintptr_t)ir_str_req(&rd);
		l->v[i].min = (char *)(uintptr_t)ir_str(&rd);
		l->v[i].below = (char *)(uintptr_t)ir_str(&rd);
		if (l->v[i].kind == UA_PRODUCT && l->v[i].min == NULL)
			rd.bad = 1;
	}
	if (rd.bad) {
		free(l->v);
		memset(l, 0, sizeof(*l));
		return -1;
	}
	return 0;
}

/* The byte offset of word w of the image. */
static size_t
word_off(const struct image *im, uint32_t w)
{
	return (size_t)((const char *)(im->words + w) -
	    (const char *)im->base);
}

/*
 * The index data of set s: for each of the types[0..nt) present in its
 * records with an index_load operation, in that (precedence) order, its
 * data.  With set NULL only checked; else the index of each such type's
 * span in set is made around its data (only checked for a type none of
 * whose rules is left); a partial set's spans get index_load_alone's.
 * -1 when malformed: then no index is made.
 */
static int
index_read(const struct image *im, const struct img_set *s,
    const struct rule_type *const *types, size_t nt, struct ruleset *set)
{
	struct img_reader	 rd;
	struct rule_span	*sp;
	size_t			 k, j;
	int			 rc;

	if (s->pages >= im->nwords || s->pwords > im->nwords - s->pages)
		return -1;
	reader_at(im, s->pages, &rd);
	rd.end = rd.p + s->pwords;
	for (k = 0; k < nt; k++) {
		if (types[k]->index_load == NULL)
			continue;
		sp = NULL;
		for (j = 0; set != NULL && j < set->nspans; j++)
			if (set->spans[j].type == types[k])
				sp = &set->spans[j];
		if (set != NULL && set->partial)
			rc = types[k]->index_load_alone(&rd, &sp->index);
		else
			rc = types[k]->index_load(&rd, sp != NULL ?
			    set->rules + sp->first : NULL, sp != NULL ?
			    sp->count : 0, sp != NULL ? &sp->index : NULL);
		if (rc == -1 || rd.bad)
			goto bad;
	}
	if (rd.p != rd.end)
		goto bad;
	return 0;
bad:
	for (j = 0; set != NULL && j < set->nspans; j++)
		if (set->spans[j].index != NULL) {
			set->spans[j].type->index_free(set->spans[j].index);
			set->spans[j].index = NULL;
		}
	return -1;
}

/*
 * The records of set s, read into rules[] (s->nrules slots; records
 * from arena) and checked: all inside its words and well formed, their
 * types in precedence order and those of s->types, their domain the
 * set's.  Collects the types present into types[0..*nt).  Returns NULL,
 * or what is wrong; the rules read are left for the caller to free
 * (*nread of them).
 */
static const char *
recs_read(const struct image *im, const struct img_set *s,
    struct rule *rules, size_t *nread, struct arena *arena,
    const struct rule_type **types, size_t *nt)
{
	struct rule	*r;
	uint32_t	 pos = s->rec, end, k, mask = 0;
	unsigned	 last = 0;

	*nread = 0;
	*nt = 0;
	if (s->rec > im->nwords || s->nwords > im->nwords - s->rec)
		return "rule records out of range";
	end = s->rec + s->nwords;
	for (k = 0; k < s->nrules; k++) {
		r = &rules[*nread];
		if (rec_read(im, &pos, end, r, arena) == -1)
			return "malformed rule record";
		(*nread)++;
		if (r->rank < last || strcmp(r->domain, im->str + s->domain) !=
		    0)
			return "rule out of place";
		/* ranks ascend: at most rule_ntypes of them */
		if (*nt == 0 || types[*nt - 1] != r->type)
			types[(*nt)++] = r->type;
		last = r->rank;
		mask |= 1U << r->rank;
	}
	if (pos != end || s->nrules == 0)
		return "rule count does not match";
	if (mask != s->types)
		return "rule types do not match";
	return NULL;
}

/* Frees rules[0..n) as recs_read() left them. */
static void
recs_free(struct rule *rules, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (rules[i].priv != NULL && rules[i].type->free != NULL)
			rules[i].type->free(&rules[i]);
}

/*
 * Every set: its domain, its place in the order, its records
 * (recs_read()), its index data.  Counts the rules into *nrules.
 */
static const char *
sets_check(const struct image *im, uint64_t *nrules)
{
	const struct img_set	*s;
	const struct rule_type	*types[RULE_TYPES_MAX];
	struct arena		 arena = ARENA_INIT;
	struct rule		*rules = NULL;
	const char		*why = NULL;
	size_t			 nt, nread, cap = 0;
	uint32_t		 i;

	*nrules = 0;
	for (i = 0; i < im->nsets && why == NULL; i++) {
		s = &im->sets[i];
		if (s->domain >= im->nstr || im->str[s->domain] == '\0') {
			why = "domain out of range";
			break;
		}
		if (i > 0 && strcmp(im->str + im->sets[i - 1].domain,
		    im->str + s->domain) >= 0) {
			why = "host index out of order";
			break;
		}
		if (s->nrules > im->nwords / REC_HDR) {
			why = "rule count does not match";
			break;
		}
		if (s->nrules > cap) {
			cap = s->nrules;
			rules = xreallocarray(rules, cap, sizeof(*rules));
		}
		why = recs_read(im, s, rules, &nread, &arena, types, &nt);
		recs_free(rules, nread);
		arena_free(&arena);
		if (why != NULL)
			break;
		if (s->pages == IMG_NONE ? s->pwords != 0 :
		    index_read(im, s, types, nt, NULL) == -1)
			why = "malformed index data";
		*nrules += s->nrules;
	}
	free(rules);
	return why;
}

static const struct ruleset *img_lookup(const struct manifest *,
	    const char *);
static const struct ruleset *img_whole(const struct manifest *,
	    const struct ruleset *);
static int img_damaged(const struct manifest *);
static void img_release(struct manifest *);

static const struct manifest_backing img_backing = {
	img_lookup, img_whole, img_damaged, img_release
};

static int
img_open(void *p, size_t len, int mapped, int lazy, struct manifest **out,
    const char **why, struct manifest_diag *d)
{
	struct img_hdr		 h;
	struct image		*im;
	struct manifest		*m;
	const unsigned char	*b = p;
	uint64_t		 cks, nrules;
	size_t			 k;

	*out = NULL;
	if (rule_ntypes > RULE_TYPES_MAX) {
		*why = "too many rule types";
		return -1;
	}
	if (((uintptr_t)p & 7) != 0) {
		*why = "misaligned";
		return -1;
	}
	if (len < sizeof(h)) {
		*why = "truncated";
		return -1;
	}
	memcpy(&h, p, sizeof(h));
	if (memcmp(h.magic, IMG_MAGIC, 8) != 0) {
		*why = "not an image";
		return -1;
	}
	if (h.version != IMAGE_VERSION || h.hdr_len != sizeof(h)) {
		*why = "another format version";
		return -1;
	}
	if (memcmp(h.build, image_build_id(), 32) != 0) {
		*why = "written by another build";
		return -1;
	}
	if (h.total_len != len) {
		*why = h.total_len > len ? "truncated" : "wrong length";
		return -1;
	}
	/* the header and the chunk checksums; the chunks: below */
	cks = img_checksum(b, len);
	if (cks != h.checksum) {
		*why = "checksum mismatch";
		return -1;
	}
	/* the sections: in order, aligned, inside the image */
	if (h.sets_off != sizeof(h) ||
	    h.chunks_off < sizeof(h) || h.chunks_off % 8 != 0 ||
	    h.chunks_off > len || h.nchunks != chunk_count(h.chunks_off) ||
	    (uint64_t)h.chunks_off + (uint64_t)h.nchunks * 8 != len ||
	    h.nsets > (h.chunks_off - h.sets_off) / sizeof(struct img_set) ||
	    h.words_off != h.sets_off + h.nsets * sizeof(struct img_set) ||
	    h.nwords > (h.chunks_off - h.words_off) / 4 ||
	    h.str_off != h.words_off + (uint64_t)h.nwords * 4 ||
	    h.nstr == 0 || h.nstr > h.chunks_off - h.str_off ||
	    b[h.str_off] != '\0' || b[h.str_off + h.nstr - 1] != '\0') {
		*why = "section out of range";
		return -1;
	}
	if (h.warnings != IMG_NONE && h.warnings >= h.nstr) {
		*why = "string out of range";
		return -1;
	}
	im = xcalloc(1, sizeof(*im));
	im->fd = -1;
	im->base = p;
	im->len = len;
	im->mapped = mapped;
	im->lazy = lazy;
	im->sets = (const struct img_set *)(const void *)(b + h.sets_off);
	im->nsets = h.nsets;
	im->words = (const uint32_t *)(const void *)(b + h.words_off);
	im->nwords = h.nwords;
	im->str = (const char *)b + h.str_off;
	im->nstr = h.nstr;
	im->data_end = h.chunks_off;
	im->chunks = (const uint64_t *)(const void *)(b + h.chunks_off);
	im->nchunks = h.nchunks;
	im->ok = xcalloc(im->nchunks ? im->nchunks : 1, sizeof(*im->ok));
	im->damaged = xcalloc(1, sizeof(*im->damaged));
	if (!lazy) {
		for (k = 0; k < im->nchunks; k++)
			if (chunk_checksum(b, im->data_end, k) !=
			    im->chunks[k]) {
				*why = "checksum mismatch";
				goto fail;
			}
		for (k = 0; k < im->nchunks; k++)
			atomic_init(&im->ok[k], 1);
		if ((*why = sets_check(im, &nrules)) != NULL)
			goto fail;
		if (nrules != h.nrules) {
			*why = "rule count does not match";
			goto fail;
		}
	}
	if (h.uas != IMG_NONE && uas_read(im, h.uas, &im->uas) == -1) {
		*why = atomic_load(im->damaged) ? "checksum mismatch" :
		    "malformed user-agent list";
		goto fail;
	}
	if (h.warnings != IMG_NONE && img_need_str(im, im->str + h.warnings)
	    == -1) {
		*why = "checksum mismatch";
		goto fail;
	}
	if (h.npm_cache_ttl < 0 || h.npm_cache_ttl > INT32_MAX) {
		*why = "npm-cache-ttl out of range";
		goto fail;
	}
	im->made = xcalloc(im->nsets ? im->nsets : 1, sizeof(*im->made));
	if (lazy)
		im->whole = xcalloc(im->nsets ? im->nsets : 1,
		    sizeof(*im->whole));
	m = xcalloc(1, sizeof(*m));
	atomic_init(&m->refs, 1);
	m->nrules = h.nrules;
	m->npm_cache_ttl = (long)h.npm_cache_ttl;
	if (h.uas != IMG_NONE)
		m->redirect_uas = &im->uas;
	m->loaded_at = time(NULL);
	m->backing = &img_backing;
	m->backing_data = im;
	if (d != NULL && h.warnings != IMG_NONE)
		buf_adds(&d->warnings, im->str + h.warnings);
	*out = m;
	return 0;
fail:
	free(im->uas.v);
	free((void *)(uintptr_t)im->ok);
	free(im->damaged);
	free(im);
	return -1;
}

int
image_open(void *p, size_t len, int mapped, struct manifest **out,
    const char **why, struct manifest_diag *d)
{
	return img_open(p, len, mapped, 0, out, why, d);
}

int
image_open_lazy(void *p, size_t len, int mapped, struct manifest **out,
    const char **why, struct manifest_diag *d)
{
	return img_open(p, len, mapped, 1, out, why, d);
}

/* ------------------------------------------------------------------ */
/* Rule sets, on first lookup						*/
/* ------------------------------------------------------------------ */

static void
set_free(struct img_ruleset *s)
{
	const struct rule_span	*sp;
	size_t			 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->set.nspans; i++) {
		sp = &s->set.spans[i];
		if (sp->index != NULL && sp->type->index_free != NULL)
			sp->type->index_free(sp->index);
	}
	for (i = 0; i < s->nrules; i++)
		if (s->rules[i].priv != NULL && s->rules[i].type->free != NULL)
			s->rules[i].type->free(&s->rules[i]);
	arena_free(&s->arena);
	free(s->set.spans);
	free(s->rules);
	free(s->set.rules);
	free(s);
}

/* img_need() of the index data of s (not IMG_NONE), in range first. */
static int
pages_need(const struct image *im, const struct img_set *s)
{
	if (s->pages >= im->nwords || s->pwords > im->nwords - s->pages) {
		atomic_store(im->damaged, 1);
		return -1;
	}
	return img_need(im, word_off(im, s->pages), (size_t)s->pwords * 4);
}

/* The types of mask (bit r: rule_types[r]) into types[], in order. */
static size_t
mask_types(uint32_t mask, const struct rule_type **types)
{
	size_t	 r, nt = 0;

	for (r = 0; r < rule_ntypes; r++)
		if (mask & (1U << r))
			types[nt++] = rule_types[r];
	return nt;
}

/*
 * The partial rule set of host index entry i (lazy images only): when
 * every type of its rules can answer from its index data alone
 * (index_load_alone, ruletype.h), a span per type with that index and
 * no rules, made without reading a record.  NULL when the set cannot be
 * partial, or its index data is damaged (then *bad is set).
 */
static struct img_ruleset *
set_make_partial(const struct image *im, uint32_t i, int *bad)
{
	const struct img_set	*s = &im->sets[i];
	const struct rule_type	*types[RULE_TYPES_MAX];
	struct img_ruleset	*rs;
	size_t			 nt, k;

	if (s->pages == IMG_NONE || (s->types >> rule_ntypes) != 0)
		return NULL;
	nt = mask_types(s->types, types);
	for (k = 0; k < nt; k++)
		if (types[k]->index_load_alone == NULL)
			return NULL;
	if (pages_need(im, s) == -1) {
		*bad = 1;
		return NULL;
	}
	rs = xcalloc(1, sizeof(*rs));
	rs->at = i;
	rs->set.domain = im->str + s->domain;
	rs->set.partial = 1;
	rs->set.spans = xcalloc(nt, sizeof(*rs->set.spans));
	rs->set.nspans = nt;
	for (k = 0; k < nt; k++)
		rs->set.spans[k].type = types[k];
	if (index_read(im, s, types, nt, &rs->set) == -1) {
		*bad = 1;
		atomic_store(im->damaged, 1);
		set_free(rs);
		return NULL;
	}
	return rs;
}

/*
 * Makes the rule set of host index entry i: its rules read from the
 * image, with what a process compiles for itself, and a span (with the
 * type's index) for each type present.  A rule that does not compile
 * here (another PCRE2 release, say) is left out, as if the manifest did
 * not have it.  A lazy image's records and index data are checked here
 * (image_open() checked those of a complete one): NULL when they are
 * damaged.
 */
static struct img_ruleset *
set_make(const struct image *im, uint32_t i)
{
	const struct img_set	*s = &im->sets[i];
	const struct rule_type	*types[RULE_TYPES_MAX];
	struct img_ruleset	*rs;
	struct rule		*r;
	struct rule_span	*sp;
	size_t			 n = 0, nt = 0, nread, j, k;

	if (im->lazy && (s->nrules > im->nwords / REC_HDR ||
	    s->rec > im->nwords || s->nwords > im->nwords - s->rec ||
	    img_need(im, word_off(im, s->rec), (size_t)s->nwords * 4) == -1 ||
	    (s->pages != IMG_NONE && pages_need(im, s) == -1)))
		goto damaged;
	rs = xcalloc(1, sizeof(*rs));
	rs->at = i;
	rs->rules = xcalloc(s->nrules, sizeof(*rs->rules));
	rs->set.rules = xcalloc(s->nrules, sizeof(*rs->set.rules));
	rs->set.domain = im->str + s->domain;
	if (recs_read(im, s, rs->rules, &nread, &rs->arena, types, &nt) !=
	    NULL) {
		/* not after image_open() */
		recs_free(rs->rules, nread);
		arena_free(&rs->arena);
		free(rs->rules);
		free(rs->set.rules);
		free(rs);
		goto damaged;
	}
	for (k = 0; k < nread; k++) {
		r = &rs->rules[k];
		if (r->type->compile != NULL && r->type->compile(r) == -1) {
			if (r->type->free != NULL)
				r->type->free(r);
			r->priv = NULL;
			continue;
		}
		rs->set.rules[n++] = r;
	}
	rs->nrules = nread;	/* those left out have priv NULL */
	rs->set.nrules = n;
	for (j = 0; j < n; j++)
		if (j == 0 || rs->set.rules[j]->type !=
		    rs->set.rules[j - 1]->type)
			rs->set.nspans++;
	rs->set.spans = xcalloc(rs->set.nspans ? rs->set.nspans : 1,
	    sizeof(*rs->set.spans));
	for (j = 0, sp = rs->set.spans; j < n; sp++) {
		sp->type = rs->set.rules[j]->type;
		sp->first = j;
		while (j < n && rs->set.rules[j]->type == sp->type)
			j++;
		sp->count = j - sp->first;
	}
	/* the indexes: from the image's data, else built */
	if (s->pages != IMG_NONE && index_read(im, s, types, nt, &rs->set) ==
	    -1 && im->lazy) {
		set_free(rs);
		goto damaged;
	}
	for (j = 0; j < rs->set.nspans; j++) {
		sp = &rs->set.spans[j];
		if (sp->index == NULL && sp->type->index != NULL)
			sp->index = sp->type->index(rs->set.rules + sp->first,
			    sp->count);
	}
	return rs;
damaged:
	atomic_store(im->damaged, 1);
	return NULL;
}

/* Slot i of v, set to rs unless another thread set it first: the set
 * that stays there (rs freed if not it), or NULL when rs is. */
static struct img_ruleset *
slot_get(_Atomic(struct img_ruleset *) *v, uint32_t i,
    struct img_ruleset *rs)
{
	struct img_ruleset	*none = NULL;

	if (rs == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&v[i], &none, rs)) {
		set_free(rs);
		rs = none;
	}
	return rs;
}

/* The rule set of domain pfx + s, made on first use (thread-safe);
 * NULL when there is none, or (lazy) it is damaged. */
static const struct ruleset *
img_find(struct image *im, const char *pfx, const char *s)
{
	struct img_ruleset	*rs;
	const struct img_set	*e;
	uint32_t		 lo = 0, hi = im->nsets, mid;
	int			 c, bad = 0;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		e = &im->sets[mid];
		if (im->lazy && (img_need(im, (size_t)((const char *)e -
		    (const char *)im->base), sizeof(*e)) == -1 ||
		    e->domain >= im->nstr ||
		    img_need_str(im, im->str + e->domain) == -1)) {
			atomic_store(im->damaged, 1);
			return NULL;
		}
		c = manifest_domain_cmp(pfx, s, im->str + e->domain);
		if (c < 0)
			hi = mid;
		else if (c > 0)
			lo = mid + 1;
		else {
			if ((rs = atomic_load(&im->made[mid])) != NULL)
				return &rs->set;
			rs = NULL;
			if (im->lazy)
				rs = set_make_partial(im, mid, &bad);
			if (rs == NULL && !bad)
				rs = set_make(im, mid);
			rs = slot_get(im->made, mid, rs);
			return rs != NULL ? &rs->set : NULL;
		}
	}
	return NULL;
}

/* manifest_lookup() (SPEC §2.2): exact, then the longest wildcard. */
static const struct ruleset *
img_lookup(const struct manifest *m, const char *host)
{
	struct image		*im = m->backing_data;
	const struct ruleset	*set;
	const char		*p;

	/* a damaged set is no set, and no wildcard stands in for it */
	if ((set = img_find(im, "", host)) != NULL || atomic_load(im->damaged))
		return set;
	for (p = strchr(host + 1, '.'); p != NULL; p = strchr(p + 1, '.'))
		if (p[1] != '\0' && ((set = img_find(im, "*", p)) != NULL ||
		    atomic_load(im->damaged)))
			return set;
	return NULL;
}

/* manifest_whole_set(): the complete set of a partial one. */
static const struct ruleset *
img_whole(const struct manifest *m, const struct ruleset *set)
{
	struct image		*im = m->backing_data;
	const struct img_ruleset *part = (const struct img_ruleset *)set;
	struct img_ruleset	*rs;

	if (!set->partial)
		return set;
	if ((rs = atomic_load(&im->whole[part->at])) != NULL)
		return &rs->set;
	rs = slot_get(im->whole, part->at, set_make(im, part->at));
	return rs != NULL ? &rs->set : NULL;
}

static int
img_damaged(const struct manifest *m)
{
	const struct image	*im = m->backing_data;

	return atomic_load(im->damaged);
}

static void
img_release(struct manifest *m)
{
	struct image		*im = m->backing_data;
	uint32_t		 i;

	for (i = 0; i < im->nsets; i++) {
		set_free(atomic_load(&im->made[i]));
		if (im->whole != NULL)
			set_free(atomic_load(&im->whole[i]));
	}
	free(im->made);
	free(im->whole);
	free(im->uas.v);
	free((void *)(uintptr_t)im->ok);
	free(im->damaged);
	free(im->path);
	if (im->fd != -1)
		close(im->fd);
	if (im->mapped)
		munmap(im->base, im->len);
	else
		free(im->base);
	free(im);
	m->backing_data = NULL;
}


/* ------------------------------------------------------------------ */
/* The cache directory							*/
/* ------------------------------------------------------------------ */

/*
 * Files in the cache (README, "Compiled manifest image"):
 *
 *	<S>-<B>.img	the image of a manifest whose image_source() (SHA-256
 *			of its name and text) is <S>
 *			(64 hex digits), for build <B> (16 hex digits)
 *	<B>-<P>.idx	one line: the identity (device, inode, size, mtime,
 *			ctime in ns) of the manifest file whose path has
 *			SHA-256 <P> (32 hex digits shown) when its image was
 *			written, and that image's <S>
 *	.tmp-XXXXXX	being written; renamed into place when complete
 */
#define IDX_MAGIC	"SGWIDX1"

static struct {
	char	*dir;		/* NULL: images off */
	int	 dflt;		/* the built-in default: silent when unusable */
	int	 warned;	/* this load has warned */
	int	 defer;		/* image_cache_defer(): store nothing */
	int	 deferred;	/* a store was skipped so */
	int	 lazy;		/* image_cache_lazy() */
	int	 discarded;	/* image_discard(): its image went */
} cache;

static const struct manifest_cache img_cache = {
	image_cache_find, image_cache_store
};

void
image_cache_set(const char *dir)
{
	free(cache.dir);
	cache.dir = NULL;
	cache.dflt = dir == NULL;
	manifest_cache = NULL;
	if (dir == NULL)
		dir = IMAGE_CACHE_DEFAULT;
	if (strcmp(dir, "none") == 0)
		return;
	cache.dir = xstrdup(dir);
	(void)image_build_id();		/* before any thread */
	manifest_cache = &img_cache;
}

void
image_cache_lazy(int on)
{
	cache.lazy = on;
}

void
image_discard(struct manifest *m)
{
	struct image	*im;
	struct stat	 st;

	if (m == NULL || m->backing != &img_backing)
		return;
	im = m->backing_data;
	if (im->path != NULL && lstat(im->path, &st) == 0 &&
	    st.st_dev == im->dev && st.st_ino == im->ino &&
	    unlink(im->path) == 0)
		cache.discarded = 1;
}

int
image_cache_defer(int on)
{
	int	 was = cache.deferred;

	cache.defer = on;
	cache.deferred = 0;
	return was;
}

/* One warning per load on stderr (the web server's error log). */
static void __attribute__((format(printf, 1, 2)))
cache_warn(const char *fmt, ...)
{
	va_list	 ap;

	if (cache.warned)
		return;
	cache.warned = 1;
	fprintf(stderr, "%s: cache %s: ", program_invocation_short_name,
	    cache.dir);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * NULL when st, a file (dir 0) or the directory (dir 1) of the cache, may
 * be trusted: owned by the running user or root, and writable by nobody
 * else; a directory others may write to needs the sticky bit (then
 * nobody can replace our files, and the files are checked one by one).
 * Otherwise why.
 */
static const char *
untrusted(const struct stat *st, int dir)
{
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return "owned by another user";
	if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
		return dir ? "not a directory" : "not a regular file";
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    !(dir && (st->st_mode & S_ISVTX) != 0))
		return "writable by group or others";
	return NULL;
}

/* 0 when the directory is there and may be trusted (else one warning,
 * none for the default directory). */
static int
cache_dir_ok(void)
{
	struct stat	 st;
	const char	*why;

	if (cache.dir == NULL)
		return -1;
	if (stat(cache.dir, &st) == -1) {
		if (!cache.dflt || errno != ENOENT)
			cache_warn("%s; the manifest is compiled in memory",
			    strerror(errno));
		return -1;
	}
	if ((why = untrusted(&st, 1)) != NULL) {
		if (!cache.dflt)	/* the default may be another's */
			cache_warn("%s; not used", why);
		return -1;
	}
	return 0;
}

/*
 * Opens a cache file for reading, never through a symbolic link.
 * Returns the descriptor with *st, or -1: *why NULL when there is no
 * such file, else why it is not used.
 */
static int
cache_open(const char *path, struct stat *st, const char **why)
{
	int	 fd;

	*why = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			*why = errno == ELOOP ? "a symbolic link" :
			    strerror(errno);
		return -1;
	}
	if (fstat(fd, st) == -1)
		*why = strerror(errno);
	else
		*why = untrusted(st, 0);
	if (*why != NULL) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The source digest src (image_source()) in hex, into shex (65 bytes);
 * returns shex. */
static const char *
shex_of(const unsigned char *src, char *shex)
{
	hex(src, 32, shex);
	return shex;
}

static void
img_path(const char *shex, struct buf *out)
{
	char	 b[17];

	hex(image_build_id(), 8, b);
	/* no stdio on the warm path (buf_addll) */
	buf_reset(out);
	buf_adds(out, cache.dir);
	buf_addc(out, '/');
	buf_adds(out, shex);
	buf_addc(out, '-');
	buf_adds(out, b);
	buf_adds(out, ".img");
}

static void
idx_path(const char *name, struct buf *out)
{
	unsigned char	 d[32];
	char		 b[17], p[33];

	sha256(name, strlen(name), d);
	hex(image_build_id(), 8, b);
	hex(d, 16, p);
	buf_reset(out);
	buf_adds(out, cache.dir);
	buf_addc(out, '/');
	buf_adds(out, b);
	buf_addc(out, '-');
	buf_adds(out, p);
	buf_adds(out, ".idx");
}

/*
 * Maps the image at path and opens it; its image_source() must be
 * shex.  Returns 0 and *out, or -1 with *why (NULL: no such file).
 */
static int
img_map(const char *path, const char *shex, struct manifest **out,
    struct manifest_diag *d, const char **why)
{
	struct stat	 st;
	struct image	*im;
	void		*p;
	char		 s[65];
	int		 fd;

	if ((fd = cache_open(path, &st, why)) == -1)
		return -1;
	if (st.st_size < (off_t)sizeof(struct img_hdr) ||
	    (uintmax_t)st.st_size >= UINT32_MAX) {
		close(fd);
		*why = "truncated";
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*why = strerror(errno);
		close(fd);
		return -1;
	}
	hex(((const struct img_hdr *)p)->source, 32, s);
	if (strcmp(s, shex) != 0) {
		*why = "not the image of this manifest";
		munmap(p, (size_t)st.st_size);
		close(fd);
		return -1;
	}
	if (img_open(p, (size_t)st.st_size, 1, cache.lazy, out, why, d) ==
	    -1) {
		munmap(p, (size_t)st.st_size);
		close(fd);
		return -1;
	}
	im = (*out)->backing_data;
	im->path = xstrdup(path);
	im->dev = st.st_dev;
	im->ino = st.st_ino;
	/* the CGI program sends pages from the file (image_bytes_file()) */
	if (cache.lazy)
		im->fd = fd;
	else
		close(fd);
	return 0;
}

/* The identity line of an index file, without the digest. */
static void
idx_identity(const struct stat *st, struct buf *out)
{
	buf_reset(out);
	if (st == NULL) {
		buf_adds(out, IDX_MAGIC " url");
		return;
	}
	/* IDX_MAGIC " %ju %ju %jd %jd %ld %jd %ld" */
	buf_adds(out, IDX_MAGIC " ");
	buf_addull(out, (unsigned long long)st->st_dev);
	buf_addc(out, ' ');
	buf_addull(out, (unsigned long long)st->st_ino);
	buf_addc(out, ' ');
	buf_addll(out, (long long)st->st_size);
	buf_addc(out, ' ');
	buf_addll(out, (long long)st->st_mtim.tv_sec);
	buf_addc(out, ' ');
	buf_addll(out, (long long)st->st_mtim.tv_nsec);
	buf_addc(out, ' ');
	buf_addll(out, (long long)st->st_ctim.tv_sec);
	buf_addc(out, ' ');
	buf_addll(out, (long long)st->st_ctim.tv_nsec);
}

/*
 * Reads the index file of name: 0 with the digest of its image in shex
 * (65 bytes) and its identity line in id, -1 when there is none (*why
 * NULL) or it is not to be trusted.
 */
static int
idx_read(const char *name, struct buf *id, char *shex, const char **why)
{
	struct buf	 path = BUF_INIT;
	struct stat	 st;
	char		 line[512], *sp;
	ssize_t		 n;
	int		 fd;

	idx_path(name, &path);
	fd = cache_open(buf_cstr(&path), &st, why);
	buf_free(&path);
	if (fd == -1)
		return -1;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 66 || line[n - 1] != '\n') {
		*why = "malformed index";
		return -1;
	}
	line[n - 1] = '\0';
	sp = strrchr(line, ' ');
	if (sp == NULL || strlen(sp + 1) != 64 || !lower_hex(sp + 1, 64)) {
		*why = "malformed index";
		return -1;
	}
	memcpy(shex, sp + 1, 65);
	*sp = '\0';
	buf_reset(id);
	buf_adds(id, line);
	return 0;
}

int
image_cache_find(const char *path, const struct stat *st,
    struct manifest **out, struct manifest_diag *d)
{
	struct buf	 id = BUF_INIT, want = BUF_INIT, img = BUF_INIT;
	const char	*why;
	char		 shex[65];
	int		 rc = -1;

	*out = NULL;
	cache.warned = 0;
	if (cache_dir_ok() == -1)
		return -1;
	if (idx_read(path, &id, shex, &why) == -1) {
		if (why != NULL)
			cache_warn("index of %s: %s; rebuilding", path, why);
		goto done;
	}
	idx_identity(st, &want);
	if (strcmp(buf_cstr(&id), buf_cstr(&want)) != 0)
		goto done;		/* the manifest changed */
	img_path(shex, &img);
	if (img_map(buf_cstr(&img), shex, out, d, &why) == 0)
		rc = 0;
	else if (why != NULL || !cache.discarded)
		cache_warn("%s: %s; rebuilding it from %s", buf_cstr(&img),
		    why != NULL ? why : "missing", path);
done:
	buf_free(&id);
	buf_free(&want);
	buf_free(&img);
	return rc;
}

/* Writes p[0..n) to path atomically (a temporary file renamed). */
static int
cache_write(const char *path, const void *p, size_t n)
{
	struct buf	 tmp = BUF_INIT;
	const char	*q = p;
	ssize_t		 w;
	int		 fd, rc = -1, e;

	buf_printf(&tmp, "%s/.tmp-XXXXXX", cache.dir);
	if ((fd = mkostemp(tmp.p, O_CLOEXEC)) == -1)
		goto done;
	if (fchmod(fd, 0644) == -1)
		goto fail;
	while (n > 0) {
		if ((w = write(fd, q, n)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		q += w;
		n -= (size_t)w;
	}
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp.p, path) == -1)
		goto fail;
	rc = 0;
	goto done;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp.p);
	errno = e;
done:
	buf_free(&tmp);
	return rc;
}

struct cache_ent {
	char		*name;
	struct timespec	 mtime;
};

static int
ent_cmp(const void *pa, const void *pb)
{
	const struct cache_ent	*a = pa, *b = pb;

	if (a->mtime.tv_sec != b->mtime.tv_sec)
		return a->mtime.tv_sec < b->mtime.tv_sec ? -1 : 1;
	if (a->mtime.tv_nsec != b->mtime.tv_nsec)
		return a->mtime.tv_nsec < b->mtime.tv_nsec ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Removes the oldest of the files ending in sfx beyond max. */
static void
trim(int dfd, struct cache_ent *v, size_t n, size_t max)
{
	size_t	 i;

	if (n <= max)
		return;
	qsort(v, n, sizeof(*v), ent_cmp);
	for (i = 0; i < n - max; i++)
		unlinkat(dfd, v[i].name, 0);
}

/*
 * Keeps the directory bounded: at most IMG_CACHE_MAX images and
 * IDX_CACHE_MAX index files (the newest), and no temporary file older
 * than an hour (a writer that died).
 */
static void
cache_trim(void)
{
	struct cache_ent	*img = NULL, *idx = NULL, **v;
	size_t			 nimg = 0, nidx = 0, *np, len, i;
	struct dirent		*de;
	struct stat		 st;
	DIR			*dp;
	time_t			 now = time(NULL);

	if ((dp = opendir(cache.dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (fstatat(dirfd(dp), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (strncmp(de->d_name, ".tmp-", 5) == 0) {
			if (st.st_mtime < now - 3600)
				unlinkat(dirfd(dp), de->d_name, 0);
			continue;
		}
		if (len > 4 && strcmp(de->d_name + len - 4, ".img") == 0) {
			v = &img;
			np = &nimg;
		} else if (len > 4 && strcmp(de->d_name + len - 4, ".idx") ==
		    0) {
			v = &idx;
			np = &nidx;
		} else
			continue;
		*v = xreallocarray(*v, *np + 1, sizeof(**v));
		(*v)[*np].name = xstrdup(de->d_name);
		(*v)[*np].mtime = st.st_mtim;
		(*np)++;
	}
	trim(dirfd(dp), img, nimg, IMG_CACHE_MAX);
	trim(dirfd(dp), idx, nidx, IDX_CACHE_MAX);
	closedir(dp);
	for (i = 0; i < nimg; i++)
		free(img[i].name);
	for (i = 0; i < nidx; i++)
		free(idx[i].name);
	free(img);
	free(idx);
}

static int	store_src(const char *, const struct stat *,
		    const unsigned char *, const struct manifest *,
		    const struct manifest_diag *);

int
image_cache_store(const char *path, const struct stat *st, const char *text,
    size_t len, const struct manifest *m, const struct manifest_diag *d)
{
	unsigned char	 src[32];

	if (cache.defer) {
		/* only when there is a directory to write it into */
		cache.deferred = cache_dir_ok() == 0;
		cache.warned = 0;
		return -1;
	}
	image_source(path, text, len, src);
	return store_src(path, st, src, m, d);
}

/* image_cache_store() of the manifest whose image_source() is src. */
static int
store_src(const char *path, const struct stat *st, const unsigned char *src,
    const struct manifest *m, const struct manifest_diag *d)
{
	struct buf	 id = BUF_INIT, img = BUF_INIT, old = BUF_INIT,
			 ipath = BUF_INIT;
	struct manifest	*done_m;
	const char	*why;
	char		 shex[65], ohex[65];
	void		*p;
	size_t		 n;
	int		 have_old, rc = -1;

	if (cache_dir_ok() == -1)
		goto done;
	img_path(shex_of(src, shex), &img);
	have_old = idx_read(path, &id, ohex, &why) == 0;
	/* another process may have written it since our look-up (their
	 * pages are shared only if we map the same file) */
	if (img_map(buf_cstr(&img), shex, &done_m, NULL, &why) == 0)
		manifest_unref(done_m);
	else if ((p = compile_src(m, src, d != NULL ? d->warnings.p : NULL,
	    d != NULL ? d->warnings.n : 0, &n)) == NULL) {
		cache_warn("%s is too large for an image", path);
		goto done;
	} else if (cache_write(buf_cstr(&img), p, n) == -1) {
		cache_warn("cannot write %s: %s; the manifest is compiled in "
		    "memory", buf_cstr(&img), strerror(errno));
		free(p);
		goto done;
	} else
		free(p);
	idx_identity(st, &id);
	buf_printf(&id, " %s\n", shex);
	idx_path(path, &ipath);
	if (cache_write(buf_cstr(&ipath), id.p, id.n) == -1)
		cache_warn("cannot write %s: %s", buf_cstr(&ipath),
		    strerror(errno));
	else
		rc = 0;
	/* the image this manifest had before */
	if (have_old && strcmp(ohex, shex) != 0) {
		img_path(ohex, &old);
		unlink(buf_cstr(&old));
	}
	cache_trim();
done:
	cache.warned = 0;
	buf_free(&id);
	buf_free(&img);
	buf_free(&old);
	buf_free(&ipath);
	return rc;
}

int
image_parse_cached(const char *name, const char *text, size_t len,
    struct manifest **out, struct manifest_diag *d)
{
	struct buf	 img = BUF_INIT;
	struct manifest	*m;
	const char	*why;
	unsigned char	 src[32];
	char		 shex[65];
	int		 rc;

	*out = NULL;
	cache.warned = 0;
	if (manifest_cache != NULL)
		image_source(name, text, len, src);
	if (manifest_cache != NULL && cache_dir_ok() == 0) {
		img_path(shex_of(src, shex), &img);
		rc = img_map(buf_cstr(&img), shex, out, d, &why);
		if (rc == -1 && why != NULL)
			cache_warn("%s: %s; rebuilding it", buf_cstr(&img),
			    why);
		buf_free(&img);
		if (rc == 0)
			return 0;
	}
	if ((rc = manifest_parse(name, text, len, out, d)) == 0 &&
	    manifest_cache != NULL &&
	    store_src(name, NULL, src, *out, d) == 0) {
		/* serve from the image, as the next process will */
		img_path(shex_of(src, shex), &img);
		if (img_map(buf_cstr(&img), shex, &m, NULL, &why) == 0) {
			manifest_unref(*out);
			*out = m;
		}
		buf_free(&img);
	}
	cache.warned = 0;
	return rc;
}
