/* fuzz_pyproject.c: libFuzzer harness: the pyproject.toml reader */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyproject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pyproject p;
	char err[256];
	memset(&p, 0, sizeof p);
	if (pyproject_parse("fuzz.toml", (const char *)data, size, &p, err, sizeof err) != 0) {
		if (p.name || p.version || p.description || p.license)
			abort();
		return 0;
	}
	pyproject_free(&p);
	return 0;
}
