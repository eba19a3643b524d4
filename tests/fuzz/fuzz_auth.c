/* fuzz_auth.c: libFuzzer harness: the Authorization header checked against a keyring */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "openai_error.h"

#define PLAIN  "fuzz-key-0123456789abcdef"
#define SHORT  "short"

static struct auth_keyring kr;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keys of every configured form: plain, short (development only) and the
 * digest of "fuzz-digest-key-0123456789" (sha256sum of it). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	static char *tokens[] = {
		PLAIN, SHORT,
		"sha256:0377f94ebd0306a8afac66d1653aef340625f71c71bbc897bcd1de4de7406c21",
	};
	char err[256];
	if (auth_keyring_init(&kr, tokens, 3, err, sizeof err) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A CGI variable is a C string: it ends at the first NUL. */
	char *header = malloc(size + 1);
	memcpy(header, data, size);
	header[size] = '\0';
	for (int strict = 0; strict < 2; strict++) {
		oa_error err;
		size_t index = (size_t)-1;
		memset(&err, 0, sizeof err);
		if (auth_check(&kr, header, strict, &index, &err) == 0) {
			if (index >= kr.n)
				abort();
		} else if (err.status != 401) {
			abort();
		}
	}
	size_t n = strlen(header);
	char fp[AUTH_FP_LEN + 1], mask[AUTH_MASK_LEN + 1];
	auth_fingerprint(header, n, fp);
	auth_mask(header, n, mask);
	if (strlen(fp) != AUTH_FP_LEN || strlen(mask) > AUTH_MASK_LEN)
		abort();
	(void)auth_token_wellformed(header);
	(void)auth_token_is_digest(header);

	/* The same bytes as a configured key list entry. */
	struct auth_keyring one;
	char *tokens[1] = { header };
	char errbuf[128];
	auth_keyring_init(&one, tokens, 1, errbuf, sizeof errbuf);
	auth_keyring_free(&one);
	free(header);
	return 0;
}
