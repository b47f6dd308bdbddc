/*
 * Runs a libFuzzer target's LLVMFuzzerTestOneInput over files given on the
 * command line, without libFuzzer.  `make check` uses it to replay the seed
 * corpus and every committed crasher under the normal (or sanitizer)
 * build, so a fixed fuzz finding stays fixed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(int argc, char *argv[])
{
	FILE		*f;
	unsigned char	*data;
	long		 len;
	int		 i;

	for (i = 1; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		if ((data = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
		    (len > 0 && fread(data, 1, (size_t)len, f) != (size_t)len)) {
			fprintf(stderr, "%s: read failed\n", argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(data, (size_t)len);
		free(data);
	}
	return 0;
}
