/* fuzz_dotenv.c: libFuzzer harness: the .env parser */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dotenv d = { NULL, 0 };
	char err[256];
	if (dotenv_parse("fuzz.env", (const char *)data, size, &d, err, sizeof err) != 0) {
		if (d.n != 0 || strlen(err) >= sizeof err)
			abort();
		return 0;
	}
	/* Every key is found again, and holds its last value. */
	for (size_t i = 0; i < d.n; i++) {
		const struct dotenv_entry *e = dotenv_get(&d, d.v[i].key);
		if (e != &d.v[i] || e->line < 1)
			abort();
	}
	dotenv_free(&d);
	return 0;
}
